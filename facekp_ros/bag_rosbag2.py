"""rosbag2 bags, copied with nothing lost: a folder (metadata.yaml and its files: sqlite3 or
mcap, one or split, compressed per file or per message) or a lone .mcap / .db3 file.

The copy has the input's storage, compression, split and metadata (custom_data, ros_distro,
QoS profiles, type hashes, every field rosbag2 wrote); the files are named after the output
folder where they were named after the input's. Per-topic counts are checked at the end.
"""
import collections
import copy
import pathlib

import yaml
import zstandard

from facekp_ros import bag_mcap, bag_sqlite
from facekp_ros.bag_distros import DEFAULT_DISTRO, DISTROS
from facekp_ros.bag_io import (
    BagReadError,
    Codec,
    Connection,
    Tally,
    check_counts,
    typestore_for,
)

STORAGES = {'mcap': bag_mcap, 'sqlite3': bag_sqlite}
SUFFIXES = {'.mcap': 'mcap', '.db3': 'sqlite3'}
ZSTD_LEVEL = 1  # rosbag2's default for zstd, per file and per message
KEY = 'rosbag2_bagfile_information'


def _metadata(folder: pathlib.Path) -> dict:
    path = folder / 'metadata.yaml'
    try:
        document = yaml.safe_load(path.read_text())
        info = document[KEY]
        info['relative_file_paths'][0]  # noqa: B018 - checks the list is there
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError, UnicodeDecodeError) \
            as error:
        raise BagReadError(f'its metadata.yaml is not rosbag2 metadata ({type(error).__name__}: '
                           f'{error})') from error
    return document


def _topic_counts(info: dict) -> dict:
    counts = collections.Counter()
    for entry in info.get('topics_with_message_count') or []:
        counts[entry['topic_metadata']['name']] += int(entry.get('message_count') or 0)
    return dict(counts)


class Rosbag2:
    """One rosbag2 bag, opened for a copy: its connections (topic and type, as the metadata
    lists them) and the typestore (codec) that reads them."""

    def __init__(self, path, ros_distro: str = DEFAULT_DISTRO):
        self.path = pathlib.Path(path)
        self.document = _metadata(self.path) if self.path.is_dir() else None
        info = self.info
        names = info['relative_file_paths'] if info else [self.path.name]
        folder = self.path if info else self.path.parent
        self.files = [folder / name for name in names]
        for file in self.files:
            if not file.is_file():
                raise BagReadError(f'its file {file.name} is missing')
        self.mode = (info.get('compression_mode') or '').lower() if info else ''
        if self.mode and (info.get('compression_format') or '').lower() != 'zstd':
            raise BagReadError(f'compression {info.get("compression_format")!r} is not one '
                               'rosbag2 writes (zstd)')
        suffix = pathlib.Path(names[0].removesuffix('.zstd')).suffix
        storage = (info or {}).get('storage_identifier') or SUFFIXES.get(suffix, '')
        if storage not in STORAGES:
            raise BagReadError(f'storage {storage!r} is neither sqlite3 nor mcap')
        self.storage = STORAGES[storage]
        distro = (info or {}).get('ros_distro') or ''
        if not distro and storage == 'sqlite3' and self.mode != 'file':
            distro = bag_sqlite.ros_distro(self.files[0])
        self.distro = distro if distro in DISTROS else ros_distro  # '' or 'rosbags': unknown
        self.definitions = {}
        self.codec = Codec(typestore_for(self.distro, {}))
        if self.mode != 'file':  # a file that is no bag fails here, before any work
            for file in self.files:
                self._learn(file)
        if info:
            topics = [e['topic_metadata'] for e in info.get('topics_with_message_count') or []]
        else:
            topics = self.storage.topic_rows(self.files[0])
        self.connections = [Connection(i, t['name'], t['type']) for i, t in enumerate(topics)]

    @property
    def typestore(self):
        return self.codec.typestore

    @property
    def info(self) -> dict | None:
        return self.document[KEY] if self.document else None

    @property
    def message_count(self) -> int | None:
        return int(self.info.get('message_count') or 0) if self.info else None

    def copy(self, target: pathlib.Path, wants, transform, progress=None) -> dict:
        """Writes the copy as the bag folder target; {topic: counts} (check_counts)."""
        compress = decompress = None
        if self.mode == 'message':
            compress = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress
            decompress = _decompress
        tally = Tally(wants, transform, progress, compress, decompress)
        target.mkdir()
        written, summaries, names = collections.Counter(), collections.Counter(), []
        all_summarized = True
        for file in self.files:
            name = _renamed(file.name, self.path, target)
            names.append(name)
            source = _unpacked(file, target) if self.mode == 'file' else file
            plain = target / name.removesuffix('.zstd')
            try:
                self._learn(source)
                if self.storage is bag_mcap:
                    counts = bag_mcap.summary_counts(source)
                    all_summarized = all_summarized and counts is not None
                    summaries.update(counts or {})
                self.storage.rewrite(source, plain, tally)
                written.update(self.storage.count(plain))
            finally:
                if source != file:
                    source.unlink()
            if self.mode == 'file':
                _pack(plain, target / name)
        self._write_metadata(target, names, tally)
        expected = {}
        if self.info:
            expected['metadata.yaml'] = _topic_counts(self.info)
        if self.storage is bag_mcap and all_summarized:
            expected['mcap summary'] = dict(summaries)
        return check_counts(self.path, expected, tally, written)

    def _learn(self, file: pathlib.Path) -> None:
        """The definitions file carries, for the types no store of the distro knows."""
        found = self.storage.definitions(file)
        if set(found) - set(self.definitions):
            self.definitions.update(found)
            self.codec = Codec(typestore_for(self.distro, self.definitions))

    def _write_metadata(self, target: pathlib.Path, names: list, tally: Tally) -> None:
        document = copy.deepcopy(self.document) if self.document else self._described(names)
        info = document[KEY]
        old = info['relative_file_paths']
        info['relative_file_paths'] = names
        for entry in info.get('files') or []:
            if entry.get('path') in old:
                entry['path'] = names[old.index(entry['path'])]
        lost = sum(tally.left_out.values())
        if lost:
            info['message_count'] = int(info.get('message_count') or 0) - lost
            for entry in info.get('topics_with_message_count') or []:
                topic = entry['topic_metadata']['name']
                entry['message_count'] = int(entry.get('message_count') or 0) \
                    - tally.left_out.get(topic, 0)
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1 << 16)
        (target / 'metadata.yaml').write_text(text)

    def _described(self, names: list) -> dict:
        """A metadata.yaml for a lone file (version 5: no field it cannot fill)."""
        counts, rows = self.storage.count(self.files[0]), self.storage.topic_rows(self.files[0])
        topics = [{'topic_metadata': {
            'name': row['name'], 'type': row['type'],
            'serialization_format': row['serialization_format'],
            'offered_qos_profiles': row.get('offered_qos_profiles') or ''},
            'message_count': counts.get(row['name'], 0)} for row in rows]
        total = sum(counts.values())
        first, last = self.storage.time_range(self.files[0])
        times = {'starting_time': {'nanoseconds_since_epoch': first},
                 'duration': {'nanoseconds': last - first}}
        return {KEY: {'version': 5, 'storage_identifier': 'mcap' if self.storage is bag_mcap
                      else 'sqlite3', 'relative_file_paths': names, **times,
                      'message_count': total, 'topics_with_message_count': topics,
                      'compression_format': '', 'compression_mode': '',
                      'files': [{'path': names[0], **copy.deepcopy(times),
                                 'message_count': total}]}}


def _renamed(name: str, source: pathlib.Path, target: pathlib.Path) -> str:
    """A file named after the input bag (folder or lone file) is named after the output."""
    stem = source.name if source.is_dir() else source.stem
    return target.name + name[len(stem):] if name.startswith(stem) else name


def _decompress(data: bytes) -> bytes:
    try:
        return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    except zstandard.ZstdError as error:
        raise BagReadError(f'a message is not zstd-compressed data ({error})') from error


def _unpacked(file: pathlib.Path, folder: pathlib.Path) -> pathlib.Path:
    """file (compressed whole with zstd) decompressed into folder, under a hidden name."""
    out = folder / f'.{file.name.removesuffix(".zstd")}.unpacked'
    try:
        with open(file, 'rb') as source, open(out, 'wb') as target:
            zstandard.ZstdDecompressor().copy_stream(source, target)
    except zstandard.ZstdError as error:
        out.unlink(missing_ok=True)
        raise BagReadError(f'{file.name} is not a zstd-compressed file ({error})') from error
    return out


def _pack(plain: pathlib.Path, packed: pathlib.Path) -> None:
    with open(plain, 'rb') as source, open(packed, 'wb') as target:
        zstandard.ZstdCompressor(level=ZSTD_LEVEL).copy_stream(source, target)
    plain.unlink()
