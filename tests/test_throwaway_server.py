"""The test harness's throwaway MariaDB servers keep out of each other's way."""

from loader.devtools.dbserver import ThrowawayServer
from loader.mysql.config import DbConfig
from loader.mysql.connection import connect


def test_a_second_server_starting_leaves_the_first_ones_temporary_tables_alone():
    """A server removes every ``#sql*`` file in its tmpdir as it starts: with one tmpdir for
    all (/tmp), a test server or the demo starting beside a running load deleted the load's
    on-disk temporary tables under it (seen as "Error on delete of '/tmp/#sql-temptable-...'
    (Errcode: 2)" in a GROUP BY of the diff)."""
    with ThrowawayServer() as first:
        conn = connect(DbConfig.from_url(first.url_for("mysql")))
        cur = conn.cursor()
        cur.execute("CREATE TEMPORARY TABLE held (n INT) ENGINE=Aria")
        cur.execute("INSERT INTO held VALUES (1), (2)")
        with ThrowawayServer():
            pass  # started and stopped while the first one holds its temporary table
        cur.execute("SELECT SUM(n) FROM held")
        assert cur.fetchone() == (3,)
        cur.execute("DROP TEMPORARY TABLE held")  # its files must still be there to delete
        conn.close()
