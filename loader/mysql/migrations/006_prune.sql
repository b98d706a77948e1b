-- 006: retention (fundsync prune). 'pruned': a trade date removed by a prune, with its rows
-- in fund_data_load_days and deleted; 'planned': a prune's dry-run, which a prune over the
-- share limit must name (--plan).
ALTER TABLE fund_data_loads
    MODIFY status ENUM('loading', 'loaded', 'skipped', 'rejected', 'failed', 'abandoned',
                       'pruned', 'planned') NOT NULL;
