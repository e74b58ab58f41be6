"""The ADB transport protocol as adbd speaks it: 24-byte headers, payloads, RSA auth.

Reference: AOSP packages/modules/adb/protocol.txt and SYNC.TXT. A message is six
little-endian u32 words (command, arg0, arg1, payload length, payload byte sum,
command ^ 0xffffffff) followed by the payload.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

HEADER = struct.Struct("<6I")

A_VERSION_MIN = 0x01000000
#: from this version on, a sender may leave the payload checksum at zero
A_VERSION_SKIP_CHECKSUM = 0x01000001
MAX_PAYLOAD = 256 * 1024

AUTH_TOKEN, AUTH_SIGNATURE, AUTH_RSAPUBLICKEY = 1, 2, 3
TOKEN_SIZE = 20


def _cmd(name: bytes) -> int:
    return struct.unpack("<I", name)[0]


CNXN, AUTH, OPEN, OKAY, CLSE, WRTE = (_cmd(n) for n in (b"CNXN", b"AUTH", b"OPEN", b"OKAY", b"CLSE", b"WRTE"))
NAMES = {CNXN: "CNXN", AUTH: "AUTH", OPEN: "OPEN", OKAY: "OKAY", CLSE: "CLSE", WRTE: "WRTE"}


def checksum(data: bytes) -> int:
    return sum(data) & 0xFFFFFFFF


@dataclass
class Message:
    command: int
    arg0: int
    arg1: int
    payload: bytes = b""

    def pack(self) -> bytes:
        head = HEADER.pack(
            self.command, self.arg0, self.arg1, len(self.payload), checksum(self.payload), self.command ^ 0xFFFFFFFF
        )
        return head + self.payload

    @property
    def name(self) -> str:
        return NAMES.get(self.command, f"0x{self.command:08x}")


class ProtocolError(Exception):
    """The peer sent something adbd would reject."""


def parse_header(head: bytes) -> tuple[int, int, int, int, int]:
    command, arg0, arg1, length, crc, magic = HEADER.unpack(head)
    if magic != command ^ 0xFFFFFFFF:
        raise ProtocolError(f"bad magic 0x{magic:08x} for command 0x{command:08x}")
    if command not in NAMES:
        raise ProtocolError(f"unknown command 0x{command:08x}")
    if length > 16 * 1024 * 1024:
        raise ProtocolError(f"payload of {length} bytes is larger than any adb peer sends")
    return command, arg0, arg1, length, crc


# -- RSA authentication ---------------------------------------------------------------


def decode_adb_public_key(text: bytes | str) -> rsa.RSAPublicKey:
    """A public key in adb's format: base64 of {len, n0inv, n[len], rr[len], e} plus ' user@host'.

    Words are little-endian u32; `len` is the modulus size in words (64 for RSA-2048).
    """
    if isinstance(text, bytes):
        text = text.decode("ascii", errors="replace")
    blob = base64.b64decode(text.strip().strip("\0").split()[0])
    (words,) = struct.unpack_from("<I", blob, 0)
    if words <= 0 or len(blob) != 4 * (3 + 2 * words):
        raise ProtocolError(f"malformed adb public key ({len(blob)} bytes for {words} words)")
    n = int.from_bytes(blob[8 : 8 + 4 * words], "little")
    (e,) = struct.unpack_from("<I", blob, 8 + 8 * words)
    return rsa.RSAPublicNumbers(e, n).public_key()


def verify_token_signature(key: rsa.RSAPublicKey, token: bytes, signature: bytes) -> bool:
    """adb signs the 20-byte token as if it were a SHA-1 digest (RSA_sign(NID_sha1, ...))."""
    try:
        key.verify(signature, token, padding.PKCS1v15(), utils.Prehashed(hashes.SHA1()))  # noqa: S303
    except (InvalidSignature, ValueError):
        return False
    return True


def public_key_fingerprint(key: rsa.RSAPublicKey) -> str:
    return format(key.public_numbers().n, "x")[-16:]
