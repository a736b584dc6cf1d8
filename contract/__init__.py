"""The public interface: listing, verdict, complaint, feedback and dead-letter records.

The JSON schemas and README beside this module are the project's copy of the shared contract;
this package parses and emits exactly those shapes with orjson. Field names are never renamed,
only extended with optional fields.
"""
