import sys

from nnbook.teaching.cli import main

sys.exit(main())
