"""Type stubs for the compiled module sqlite_quiver._quiver."""

from typing import Any, Dict, List, Optional, Tuple

__version__: str
VEC_VERSION: str

def load_extension_into(
    conn: Any, path: str, entrypoint: Optional[str], host_library: str
) -> None: ...
def host_sqlite_version_number(host_library: str) -> int: ...
def kernels() -> str: ...
def vec0_insert(
    conn: Any,
    table: str,
    vectors: Any,
    ids: Optional[List[Any]],
    columns_dict: Dict[str, Any],
    replace: bool,
) -> List[int]: ...
def vec0_search(
    conn: Any,
    table: str,
    queries: Any,
    k: int,
    column: Optional[str],
    filters: Dict[str, Any],
) -> Tuple[bytes, bytes, Optional[List[Optional[str]]]]: ...
def vec0_cache_bytes(conn: Any, table: str) -> int: ...
def set_threads(n: int) -> int: ...
def vec0_clear_cache() -> None: ...
