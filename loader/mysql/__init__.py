"""The database side: connection, statements, the ledger, migrations, the merge half, reads."""
