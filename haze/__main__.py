from haze.cli import main

raise SystemExit(main())
