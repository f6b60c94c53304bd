"""JSON lines: one signal per line, encoded by one reused msgspec encoder."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from .._signal import Signal
from ._safe import Repairs, placeholder_signal, repair_signal

__all__ = ["JsonFormat"]

# What msgspec raises for a value it cannot write (UnicodeEncodeError is a ValueError).
_ERRORS = (RecursionError, TypeError, ValueError, msgspec.EncodeError, OverflowError)


class JsonFormat(Repairs):
    """Encode batches of signals as JSON lines (UTF-8, ``\\n`` after every signal).

    One instance per sink: it owns a reused encoder and buffer. Never raises: a signal whose
    values msgspec rejects (a cycle, a non-string key, a lone surrogate, an int of thousands of
    digits) is re-encoded with those values made safe, and the rest of the batch is unaffected;
    :attr:`repaired` counts such signals until the sink takes the count.
    """

    name = "json"
    #: 4,096 ordinary signals encode in about 1 ms (see ``Format.slice_size``).
    slice_size = 4096

    def __init__(self) -> None:
        super().__init__()
        self._encoder = msgspec.json.Encoder(enc_hook=self.enc_hook)
        self._buf = bytearray()

    def encode_batch(self, batch: Sequence[Signal]) -> bytes:
        """The whole batch as JSON lines."""
        try:
            return self._encoder.encode_lines(batch)
        except _ERRORS:
            return self._encode_one_by_one(batch)

    def encode(self, sig: Signal) -> bytes:
        """One signal as a JSON object, without the trailing newline."""
        try:
            return self._encoder.encode(sig)
        except _ERRORS:
            pass
        self.repaired += 1
        try:
            return self._encoder.encode(repair_signal(sig))
        except _ERRORS:
            return self._encoder.encode(placeholder_signal(sig))

    def _encode_one_by_one(self, batch: Sequence[Signal]) -> bytes:
        buf = self._buf
        del buf[:]
        for sig in batch:
            start = len(buf)
            try:
                self._encoder.encode_into(sig, buf, start)
            except _ERRORS:
                del buf[start:]
                buf += self.encode(sig)
            buf.extend(b"\n")
        return bytes(buf)
