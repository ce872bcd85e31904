from imsim.cli import main

raise SystemExit(main())
