"""LZO1X decompression (makedumpfile -l pages), written from the stream format description.

The format (Linux Documentation/staging/lzo.rst, "LZO stream format as
understood by Linux's LZO decompressor"): a first byte above 17 starts with
a literal run; then instructions chosen by their top bits copy a match of
LEN bytes from DIST back, followed by S (0-3) literals named in the match's
low bits; the state (how many literals were just copied: 0, 1-3, or 4 for
four or more) decides what a 0000xxxx instruction means. A 16-48 KiB match
with distance 16384 ends the stream.

Every read and copy is bounds-checked; a damaged stream raises ValueError,
and the output never grows past ``limit`` bytes.
"""


def decompress(src: bytes, limit: int) -> bytes:
    """The bytes of one LZO1X stream (at most ``limit`` of them)."""
    out = bytearray()
    n = len(src)
    ip = 0
    state = 0

    def byte() -> int:
        nonlocal ip
        if ip >= n:
            raise ValueError("LZO stream ends inside an instruction")
        ip += 1
        return src[ip - 1]

    def length_ext(base: int) -> int:
        """base + 255 per zero byte + the first non-zero byte."""
        zeros = 0
        b = byte()
        while b == 0:
            zeros += 1
            b = byte()
        return base + 255 * zeros + b

    def literals(count: int) -> None:
        nonlocal ip
        if ip + count > n:
            raise ValueError("LZO literal run past the end of the stream")
        if len(out) + count > limit:
            raise ValueError(f"LZO output grows past {limit} bytes")
        out.extend(src[ip:ip + count])
        ip += count

    def match(dist: int, length: int) -> None:
        start = len(out) - dist
        if start < 0:
            raise ValueError(f"LZO match {dist} bytes back, before the start of the output")
        if len(out) + length > limit:
            raise ValueError(f"LZO output grows past {limit} bytes")
        if dist >= length:
            out.extend(out[start:start + length])
        else:  # overlapping: the run repeats with period dist
            chunk = out[start:]
            while length > 0:
                take = min(length, len(chunk))
                out.extend(chunk[:take])
                length -= take

    first = byte()
    if first > 17:
        literals(first - 17)
        state = 4 if first - 17 >= 4 else first - 17
    else:
        ip = 0
    while True:
        t = byte()
        if t < 16:
            if state == 0:
                literals(3 + (t if t else length_ext(15)))
                state = 4
                continue
            h = byte()
            if state < 4:
                match((h << 2) + (t >> 2 & 3) + 1, 2)
            else:
                match((h << 2) + (t >> 2 & 3) + 2049, 3)
            s = t & 3
        elif t < 32:
            length = 2 + ((t & 7) if t & 7 else length_ext(7))
            lo, hi = byte(), byte()
            d = (hi << 8 | lo) >> 2
            dist = 16384 + ((t & 8) << 11) + d
            if dist == 16384:
                if length != 3:
                    raise ValueError("LZO end-of-stream marker with a length")
                return bytes(out)
            match(dist, length)
            s = lo & 3
        elif t < 64:
            length = 2 + ((t & 31) if t & 31 else length_ext(31))
            lo, hi = byte(), byte()
            match(((hi << 8 | lo) >> 2) + 1, length)
            s = lo & 3
        else:
            h = byte()
            length = (3 + (t >> 5 & 1)) if t < 128 else (5 + (t >> 5 & 3))
            match((h << 3) + (t >> 2 & 7) + 1, length)
            s = t & 3
        literals(s)
        state = s
