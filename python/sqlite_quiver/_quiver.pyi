"""Type stubs for the compiled module sqlite_quiver._quiver."""

from typing import Any, Optional

__version__: str
VEC_VERSION: str

def load_extension_into(
    conn: Any, path: str, entrypoint: Optional[str], host_library: str
) -> None: ...
def host_sqlite_version_number(host_library: str) -> int: ...
def kernels() -> str: ...
