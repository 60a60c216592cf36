"""Reading back HCL strings bakery writes: python-hcl2 where it can, the real Packer where not."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

PackerReads = Callable[[Sequence[str]], list[str]]

# python-hcl2 8.x rejects an escaped `$${` or `%%{` that no `}` follows, although HCL reads it
# (and Packer 1.6.6 reads it) as the literal `${` or `%{`: for such text python-hcl2 cannot check
# bakery's output, and the tests ask Packer instead (DESIGN.md, "Facts found while planning").
_UNCLOSED = re.compile(r"[$%]\{(?![^}]*\})")


def python_hcl2_cannot_read(text: str) -> bool:
    """Say whether `text`, escaped, trips python-hcl2's flaw (a `${` or `%{` with no `}` after)."""
    return _UNCLOSED.search(text) is not None
