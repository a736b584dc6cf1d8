"""The listing contract: what is accepted, what is refused, and which field is named."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.errors import ContractError
from contract.listing import parse_listing
from contract.signals import SignalKeyer, normalise_address, normalise_identifier, normalise_phone

KEYER = SignalKeyer("unit-test-key")
VALID = {
    "listing_id": "l-1",
    "seller_id": "s-1",
    "store_id": "st-1",
    "title": "Aurora handbag",
    "category": "bags/handbags",
    "price": 2999.0,
}


def _with(**changes: object) -> bytes:
    doc = dict(VALID)
    for key, value in changes.items():
        if value is ...:
            doc.pop(key)
        else:
            doc[key] = value
    return orjson.dumps(doc)


def test_minimal_listing_gets_the_contract_defaults() -> None:
    listing = parse_listing(orjson.dumps(VALID), KEYER, arrival=1000.0)
    assert (listing.revision, listing.currency, listing.shipping_fee, listing.description) == (
        0,
        "CNY",
        0.0,
        "",
    )
    assert listing.event_time == 1000.0  # arrival time without created_at
    assert listing.key == "l-1:0"


def test_created_at_sets_event_time() -> None:
    listing = parse_listing(_with(created_at="2026-11-23T10:00:00Z"), KEYER, arrival=0.0)
    assert listing.event_time == 1795428000.0


def test_extra_fields_are_allowed() -> None:
    assert (
        parse_listing(_with(label="counterfeit", anything={"x": 1}), KEYER).title
        == "Aurora handbag"
    )


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"{not json", None),  # not JSON at all
        (b"[1,2]", None),  # JSON, but not an object
        (_with(title=...), "title"),  # required field missing
        (_with(listing_id=""), "listing_id"),  # empty id
        (_with(price="12"), "price"),  # number as a string
        (_with(price=True), "price"),  # a boolean is not a number
        (_with(price=0), "price"),  # exclusiveMinimum 0
        (_with(price=-3), "price"),  # negative
        (_with(title="x" * 513), "title"),  # longer than 512
        (_with(revision=-1), "revision"),  # minimum 0
        (_with(revision=1.5), "revision"),  # not an integer
        (_with(currency="cny"), "currency"),  # pattern ^[A-Z]{3}$
        (_with(shipping_fee=-1), "shipping_fee"),  # minimum 0
        (_with(image_phashes=["0123456789abcdeF"]), "image_phashes[0]"),  # upper-case hex
        (_with(image_phashes=["00"] * 21), "image_phashes"),  # maxItems 20
        (_with(seller_signals={"passport": "1"}), "seller_signals.passport"),  # closed object
        (_with(seller_signals={"phone": 138}), "seller_signals.phone"),  # wrong type
        (_with(brand=7), "brand"),  # string or null
        (_with(created_at="yesterday"), "created_at"),  # not a date-time
    ],
)
def test_invalid_listings_name_the_field(raw: bytes, field: str | None) -> None:
    with pytest.raises(ContractError) as caught:
        parse_listing(raw, KEYER)
    assert caught.value.field == field


def test_signals_are_keyed_never_raw() -> None:
    raw_phone = "+86 138-1234-5678"
    listing = parse_listing(_with(seller_signals={"phone": raw_phone, "address": "1 Road"}), KEYER)
    assert set(listing.signals) == {"phone", "address"}
    assert raw_phone not in repr(listing) and "13812345678" not in repr(listing)
    assert len(listing.signals["phone"]) == 32


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("+86 138-1234-5678", "13812345678"),  # the contract's own example
        ("0086 138 1234 5678", "13812345678"),  # 00 international prefix
        ("+44 7700 900123", "07700 900123"),  # national trunk zero
        ("+1 (415) 555-0100", "415-555-0100"),  # one-digit country code
    ],
)
def test_phone_numbers_compare_by_national_digits(a: str, b: str) -> None:
    assert normalise_phone(a) == normalise_phone(b)
    assert KEYER.key("phone", a) == KEYER.key("phone", b)


def test_identifiers_and_addresses_normalise() -> None:
    assert normalise_identifier("6222 0212-3456 789X") == normalise_identifier("62220212345678 9x")
    assert normalise_address("  12  Ｒｏａｄ\tShenzhen ") == normalise_address("12 road shenzhen")


def test_keys_depend_on_the_secret_and_the_kind() -> None:
    other = SignalKeyer("another-key")
    assert KEYER.key("bank_account", "123") != other.key("bank_account", "123")
    assert KEYER.key("bank_account", "123") != KEYER.key("id_number", "123")


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats()
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=8)
    ),
    max_leaves=25,
)
_near_listing = st.dictionaries(
    st.sampled_from(
        [
            *VALID,
            "revision",
            "price",
            "image_phashes",
            "seller_signals",
            "created_at",
            "currency",
            "brand",
            "shipping_fee",
            "description",
        ]
    ),
    _json,
).map(lambda doc: {**VALID, **doc})


def _dump(value: object) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # NaN keys and the like: still bytes worth throwing at the parser
        return repr(value).encode()


@settings(max_examples=1000, deadline=None)
@given(raw=st.binary(max_size=200) | _json.map(_dump) | _near_listing.map(_dump))
def test_any_bytes_parse_or_raise_contract_error(raw: bytes) -> None:
    try:
        listing = parse_listing(raw, KEYER)
    except ContractError as exc:
        assert exc.field is None or isinstance(exc.field, str)
    else:
        assert listing.price > 0 and 1 <= len(listing.title) <= 512
