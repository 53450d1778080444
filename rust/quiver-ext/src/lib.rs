//! `libquiver`: load with `.load ./libquiver` in the sqlite3 shell, or
//! `sqlite3_load_extension(db, "libquiver", NULL, ...)` from any host.

quiver_sqlite::export_entry_point!();
