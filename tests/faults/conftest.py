"""Setup of the fault suite (tests/faults): the integration helpers on the import path.

Owns: making tests/integration's helpers (the helpers package: helpers.api, helpers.stack_control, helpers.tasks, ...)
importable from here, so the fault suite drives the stack exactly as the integration tests
do and never grows a second copy of them.
Rules: nothing else; the suite's own modules sit beside this file.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
