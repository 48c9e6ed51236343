from gwwatch.cli import main

raise SystemExit(main())
