"""``python -m gradscope.compile``: regenerate :mod:`gradscope.compile.generated` after changing a built-in cell."""

import sys

from gradscope.compile.codegen import main

sys.exit(main())
