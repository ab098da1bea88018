#ifndef HELPLINE_CSQLITE_SHIM_H
#define HELPLINE_CSQLITE_SHIM_H
#include <sqlite3.h>

// SQLITE_TRANSIENT is a cast of -1 to a destructor pointer, a macro Swift cannot import.
static inline sqlite3_destructor_type CSQLite_transient(void) { return SQLITE_TRANSIENT; }

// sqlite3_db_config is variadic. Turns off loading extensions (also through SQL) and turns on
// defensive mode (no writes to the schema or shadow tables), for the fleet query connection.
static inline int CSQLite_disable_extensions(sqlite3 *db) {
    int rc = sqlite3_db_config(db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, (int *)0);
    if (rc == SQLITE_OK) rc = sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)0);
    return rc;
}
#endif
