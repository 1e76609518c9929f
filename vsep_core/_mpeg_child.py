"""Decode an MPEG audio file (MP3) with libsndfile in a child process: ``python -I _mpeg_child.py PATH MODE``.

libmpg123, inside libsndfile, prints "Note: Illegal Audio-MPEG-Header …" and
"Note: Trying to resync…" on damaged MP3 straight to file descriptor 2. In
the dashboard's server (many sessions, one process) or the command line's
one-line messages that would be noise, and hiding it would mean redirecting
the whole process's fd 2. Here the child's fd 2 is a file of its own, and the
samples are libsndfile's own, bit for bit.

Protocol: one JSON line on stdout (``sr``, ``channels``, ``frames``,
``format``, ``subtype``; or ``error``); with MODE ``decode``, then the frames
as interleaved little-endian float32, in blocks, to the end. Runs with only
the standard library, numpy and soundfile: it imports nothing of vsep_core.
"""

import json
import sys

BLOCK_FRAMES = 1 << 16


def main(path: str, mode: str) -> int:
    import soundfile as sf

    out = sys.stdout.buffer
    try:
        f = sf.SoundFile(path)
    except Exception as exc:  # not something libsndfile opens: the parent tries ffmpeg
        out.write((json.dumps({"error": " ".join(str(exc).split())[:200]}) + "\n").encode())
        return 0
    with f:
        out.write((json.dumps({"sr": f.samplerate, "channels": f.channels, "frames": f.frames,
                               "format": f.format, "subtype": f.subtype}) + "\n").encode())
        out.flush()
        if mode != "decode":
            return 0
        while True:
            block = f.read(BLOCK_FRAMES, dtype="float32", always_2d=True)
            if len(block):
                out.write(block.astype("<f4", copy=False).tobytes())
            if len(block) < BLOCK_FRAMES:
                break
        out.flush()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1], sys.argv[2]))
    except BrokenPipeError:  # the parent read enough and closed the pipe
        sys.exit(0)
