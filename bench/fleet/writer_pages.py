#!/usr/bin/env python3
"""WAL frames written per heartbeat by a replica of the collector's heartbeat SQL, on a copy of
a store kept by bench/fleet/run.py, for the disk/process/unit writes as they were before the
fourth pass (delete all, insert all) and as they are now (upsert what changed, delete what
went), at a fixed batch size — so the two compare at the same batching whatever the build.

    python3 bench/fleet/writer_pages.py before|after STORE_DIR BATCH TICK

A record of how BENCHMARKS.md's replica figures were made (issue 11, fourth pass), not a
second writer: the SQL here is a copy (host_health and the history row abridged), and the
collector's own figures come from replay.py --count-pages. Prints the row counts, and
leaves the copy in a temp dir named on the last line, to compare tables between the modes.
"""
import sqlite3, os, sys, shutil, json, tempfile
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as fleet
from datetime import datetime, timezone
mode, store, batch, tick = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
work = os.path.join(tempfile.mkdtemp(prefix=f'writer-pages-{mode}-'), 'data')
shutil.copytree(os.path.join(store, 'data'), work)
path = os.path.join(work, 'collector.sqlite')
db = sqlite3.connect(path, isolation_level=None)
db.execute('PRAGMA journal_mode=WAL'); db.execute('PRAGMA wal_checkpoint(TRUNCATE)'); db.execute('PRAGMA wal_autocheckpoint=0')
db.execute('PRAGMA foreign_keys=ON'); db.execute('PRAGMA synchronous=NORMAL')
hosts = sorted((int(i), h, t) for i, h, t in (l.split() for l in open(os.path.join(store, 'hosts.txt'))))
now = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
ts = '2026-12-01 12:00:00.000'
def write(hb, host):
    db.execute('INSERT INTO heartbeats_latest (host_id, received_at, sent_at, body) VALUES (?, ?, ?, ?) ON CONFLICT (host_id) DO UPDATE SET received_at = excluded.received_at, sent_at = excluded.sent_at, body = excluded.body',
               (host, ts, ts, json.dumps(hb, separators=(',', ':'))))
    m = hb['memory']
    db.execute('''INSERT INTO host_health (host_id, received_at, sent_at, agent_version, cpu_count, uptime_seconds, load1, memory_total_bytes, memory_used_percent, failed_unit_count, spooled_bundles)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (host_id) DO UPDATE SET received_at = excluded.received_at, sent_at = excluded.sent_at, uptime_seconds = excluded.uptime_seconds,
        load1 = excluded.load1, memory_total_bytes = excluded.memory_total_bytes, memory_used_percent = excluded.memory_used_percent, failed_unit_count = excluded.failed_unit_count,
        spooled_bundles = excluded.spooled_bundles''',
        (host, ts, ts, hb['agentVersion'], hb['system']['cpuCount'], hb['system']['uptimeSeconds'], hb['system']['loadAverage'][0], m['totalBytes'],
         (m['totalBytes'] - m['availableBytes']) / m['totalBytes'] * 100, len(hb['failedUnits']), hb['spooledBundles']))
    disks = [(host, f['mountPoint'], f['device'], f['fsType'], int(f['readOnly']), f['sizeBytes'], f['usedBytes'], f['availableBytes'], float(f['usedPercent']), float(f['inodesUsedPercent'])) for f in hb['filesystems']]
    procs = [(host, p['pid'], p['name'], p['user'], p['uid'], p['state'], float(p['cpuPercent']), p['rssBytes'], p['threads'], p['commandLine']) for p in hb['topProcesses']]
    units = [(host, u['name'], u['description'], u['activeState'], u['subState'], u['result'], u['since'], u['restarts']) for u in hb['failedUnits']]
    if mode == 'before':
        db.execute('DELETE FROM host_disks WHERE host_id = ?', (host,))
        db.executemany('INSERT OR REPLACE INTO host_disks VALUES (?,?,?,?,?,?,?,?,?,?)', disks)
        db.execute('DELETE FROM host_processes WHERE host_id = ?', (host,))
        db.executemany('INSERT OR REPLACE INTO host_processes VALUES (?,?,?,?,?,?,?,?,?,?)', procs)
        db.execute('DELETE FROM host_failed_units WHERE host_id = ?', (host,))
        db.executemany('INSERT OR REPLACE INTO host_failed_units VALUES (?,?,?,?,?,?,?,?)', units)
    else:
        for table, key, rows, cols in [('host_disks', 'mount_point', disks, ['device', 'fs_type', 'read_only', 'size_bytes', 'used_bytes', 'available_bytes', 'used_percent', 'inodes_used_percent']),
                                       ('host_processes', 'pid', procs, ['name', 'user', 'uid', 'state', 'cpu_percent', 'rss_bytes', 'threads', 'command']),
                                       ('host_failed_units', 'unit', units, ['description', 'active_state', 'sub_state', 'result', 'since', 'restarts'])]:
            keep = {r[1] for r in rows}
            for (k,) in db.execute(f'SELECT {key} FROM {table} WHERE host_id = ?', (host,)).fetchall():
                if k not in keep:
                    db.execute(f'DELETE FROM {table} WHERE host_id = ? AND {key} = ?', (host, k))
            sets = ', '.join(f'{c} = excluded.{c}' for c in cols)
            where = ' OR '.join(f'{c} IS NOT excluded.{c}' for c in cols)
            db.executemany(f'INSERT INTO {table} VALUES ({",".join("?" * (len(cols) + 2))}) ON CONFLICT (host_id, {key}) DO UPDATE SET {sets} WHERE {where}', rows)
    db.execute('INSERT INTO health_history (host_id, at, sent_at, memory_used_percent, failed_unit_count) VALUES (?, ?, ?, ?, ?)', (host, ts, ts, 50.0, len(units)))
    db.execute('UPDATE hosts SET last_seen_at = ? WHERE id = ?', (ts, host))
beats = [(fleet.heartbeat(i, h, fleet.host_name(i), fleet.machine_id(i), tick, now), h) for i, h, _ in hosts]
db.execute('BEGIN')
for n, (hb, h) in enumerate(beats, 1):
    write(hb, h)
    if n % batch == 0:
        db.execute('COMMIT'); db.execute('BEGIN')
db.execute('COMMIT')
frames = (os.path.getsize(path + '-wal') - 32) / (4096 + 24)
print(f'{mode}: {len(beats)} heartbeats in batches of {batch}: {frames / len(beats):.2f} WAL frames per heartbeat')
rows = {t: db.execute(f'SELECT count(*) FROM {t}').fetchone()[0] for t in ('host_disks', 'host_processes', 'host_failed_units')}
print(rows)
print(f'the copy: {path}')
