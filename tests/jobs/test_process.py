"""Process helpers: a step's output stays bounded on disk."""

from __future__ import annotations

from jobs.host.process import KEEP_OUTPUT_BYTES, MAX_OUTPUT_BYTES, cap_output, output_file


def test_output_file_is_cut_back_to_its_last_part() -> None:
    with output_file("rb-test") as output:
        chunk = b"x" * 1023 + b"\n"
        for _ in range(MAX_OUTPUT_BYTES // len(chunk) + 10):
            output.write(chunk)
        output.write(b"the last line\n")
        output.flush()
        cap_output(output)
        output.seek(0)
        kept = output.read()
    assert len(kept) < KEEP_OUTPUT_BYTES + 100
    assert kept.startswith(b"[rollbot: ") and b"bytes of output dropped]" in kept
    assert kept.endswith(b"the last line\n")
