"""HDFS's default file checksum, ``MD5-of-<n>MD5-of-512CRC32C``, computed as a NameNode answers it.

Each 512-byte chunk has a CRC32C (Castagnoli); a block's MD5 is the MD5 of its chunks' CRCs (4 bytes,
big-endian, as in the block's ``.meta`` file); the file's MD5 is the MD5 of the block MD5s, taken
over the whole 32·2ⁿ-byte buffer that holds them (a quirk of Hadoop's ``DataOutputBuffer`` kept for
compatibility). ``crcPerBlock`` is 0 for a one-block file, else the CRCs per full block. The answer
bytes are ``int bytesPerCRC, long crcPerBlock, md5`` (28 bytes), as hex.
"""
from __future__ import annotations

import hashlib
import struct
from pathlib import Path
from typing import Any

BYTES_PER_CRC = 512
EMPTY_FILE = {"algorithm": "MD5-of-0MD5-of-0CRC32",
              "bytes": "00000000" "0000000000000000" + hashlib.md5(bytes(32)).hexdigest(), "length": 28}


def _table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _block_md5(fh: Any, length: int) -> tuple[bytes, int]:
    """MD5 of the chunk CRCs of the next ``length`` bytes of ``fh``, and how many CRCs there were."""
    crcs = bytearray()
    count = 0
    while length > 0:
        chunk = fh.read(min(BYTES_PER_CRC, length))
        if not chunk:
            break
        crcs += struct.pack(">I", crc32c(chunk))
        length -= len(chunk)
        count += 1
    return hashlib.md5(crcs).digest(), count


def _java_buffer(data: bytes) -> bytes:
    """``data`` padded with zeros to the capacity a Java ``DataOutputBuffer`` would have grown to."""
    cap = 32
    while cap < len(data):
        cap *= 2
    return data + bytes(cap - len(data))


def file_checksum(real: Path, block_size: int) -> dict[str, Any]:
    """The ``FileChecksum`` object WebHDFS answers for the file at ``real``."""
    size = real.stat().st_size
    if size == 0:
        return dict(EMPTY_FILE)
    md5s = bytearray()
    crc_per_block = first_count = blocks = 0
    with real.open("rb") as fh:
        remaining = size
        while remaining > 0:
            digest, count = _block_md5(fh, min(block_size, remaining))
            if blocks == 0:
                first_count = count
            md5s += digest
            remaining -= min(block_size, remaining)
            blocks += 1
    if blocks > 1:
        crc_per_block = first_count
    file_md5 = hashlib.md5(_java_buffer(bytes(md5s))).digest()
    raw = struct.pack(">iq", BYTES_PER_CRC, crc_per_block) + file_md5
    return {"algorithm": f"MD5-of-{crc_per_block}MD5-of-{BYTES_PER_CRC}CRC32C", "bytes": raw.hex(), "length": len(raw)}
