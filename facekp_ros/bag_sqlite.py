"""rosbag2 sqlite3 files (.db3) of every schema version (Foxy's, without type definitions or
a schema table, to Kilted's): copied as they are, then only transformed messages rewritten.

A copy of the file keeps everything rosbag2 wrote (topics with QoS and type hashes, message
definitions, ros_distro, the stored metadata, message ids and order) and every other message's
bytes; the images are read from the input in rosbag2's playback order (timestamp, then id).
"""
import collections
import contextlib
import errno
import pathlib
import shutil
import sqlite3

from facekp_ros.bag_io import BagReadError, Connection


@contextlib.contextmanager
def _open(path, write=False):
    """A connection to the file at path, committed (when writing) and closed on leaving."""
    mode = 'rw' if write else 'ro'
    db = sqlite3.connect(f'{pathlib.Path(path).resolve().as_uri()}?mode={mode}', uri=True)
    try:
        with db:
            yield db
    finally:
        db.close()


def _read(path, query: str, args=()) -> list:
    try:
        with _open(path) as db:
            return db.execute(query, args).fetchall()
    except sqlite3.Error as error:
        raise BagReadError(f'{pathlib.Path(path).name} is not a readable rosbag2 sqlite3 file '
                           f'({error})') from error


def topics(path) -> dict:
    """{topic id: Connection} of the file."""
    return {i: Connection(i, name, msgtype)
            for i, name, msgtype in _read(path, 'SELECT id, name, type FROM topics')}


def topic_rows(path) -> list:
    """The topics table's rows as dicts (name, type, serialization_format, QoS, ...)."""
    try:
        with _open(path) as db:
            cursor = db.execute('SELECT * FROM topics')
            names = [c[0] for c in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]
    except sqlite3.Error as error:
        raise BagReadError(f'{pathlib.Path(path).name} is not a readable rosbag2 sqlite3 file '
                           f'({error})') from error


def _tables(path) -> set:
    return {row[0] for row in _read(path, "SELECT name FROM sqlite_master WHERE type='table'")}


def definitions(path) -> dict:
    """{type name: (encoding, text)} of the message definitions the file carries (since Iron;
    none before)."""
    if 'message_definitions' not in _tables(path):
        return {}
    return {name: (encoding, text) for name, encoding, text in _read(
        path, 'SELECT topic_type, encoding, encoded_message_definition FROM '
              'message_definitions') if text}


def ros_distro(path) -> str:
    """The distro recorded in the file's schema table ('' when there is none)."""
    if 'schema' not in _tables(path):
        return ''
    rows = _read(path, 'SELECT ros_distro FROM schema')
    return rows[0][0] if rows and rows[0][0] else ''


def count(path) -> dict:
    """{topic: messages} in the file."""
    names = {c.id: c.topic for c in topics(path).values()}
    rows = _read(path, 'SELECT topic_id, COUNT(*) FROM messages GROUP BY topic_id')
    counts = collections.Counter()
    for topic_id, n in rows:
        counts[names.get(topic_id, f'topic id {topic_id}')] += n
    return dict(counts)


def time_range(path) -> tuple:
    """(first, last) message timestamp in ns; (0, 0) without messages."""
    first, last = _read(path, 'SELECT MIN(timestamp), MAX(timestamp) FROM messages')[0]
    return (first or 0, last or 0)


def rewrite(source, target, tally) -> None:
    """Copies the sqlite3 file source to target, every message through tally.message (the
    ones tally does not want are counted, not read)."""
    connections = topics(source)
    for topic_id, n in _read(source, 'SELECT topic_id, COUNT(*) FROM messages '
                                     'GROUP BY topic_id'):
        if topic_id in connections and not tally.wants(connections[topic_id]):
            tally.skip(connections[topic_id], n)
    wanted = [i for i, c in connections.items() if tally.wants(c)]
    shutil.copyfile(source, target)
    if not wanted:
        return
    marks = ','.join('?' * len(wanted))
    try:
        with _open(source) as reading, _open(target, write=True) as writing:
            rows = reading.execute(f'SELECT id, topic_id, timestamp, data FROM messages WHERE '
                                   f'topic_id IN ({marks}) ORDER BY timestamp, id', wanted)
            for row_id, topic_id, stamp, data in rows:
                new = tally.message(connections[topic_id], stamp, bytes(data))
                if new is None:
                    writing.execute('DELETE FROM messages WHERE id = ?', (row_id,))
                elif new != data:
                    writing.execute('UPDATE messages SET data = ? WHERE id = ?', (new, row_id))
    except sqlite3.Error as error:  # 'database or disk is full', 'disk I/O error'
        code = errno.ENOSPC if 'full' in str(error) else errno.EIO
        raise OSError(code, str(error), str(target)) from error
