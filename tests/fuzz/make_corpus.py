#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/): small
valid inputs, one file each, from the formats in docs/ and kvc's own fixtures
(tests/data/synthetic_trace.jsonl; the tokenizer.json layout of
src/engine/tokenizer/tokenizer_builder.cc). Deterministic; rerun after changing a
target's input format:  python3 tests/fuzz/make_corpus.py
Regression inputs found by fuzzing live beside the seeds as regress-*; this
script never removes them."""
import json
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")
ROOT = os.path.dirname(os.path.dirname(HERE))


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# --- openai_request: chat and completion bodies -----------------------------------
chat = {"model": "kvc-tiny", "messages": [{"role": "user", "content": "Hello"}]}
write("openai_request", "chat", dumps(chat))
write("openai_request", "chat_full", dumps({
    "model": "kvc-tiny", "max_tokens": 32, "temperature": 0.7, "top_p": 0.9, "top_k": 40,
    "seed": 7, "n": 1, "stop": ["\n\n", "END"], "ignore_eos": False, "stream": True,
    "stream_options": {"include_usage": True},
    "messages": [{"role": "system", "content": "Be brief."},
                 {"role": "developer", "content": "x"},
                 {"role": "user", "content": [{"type": "text", "text": "Hi "},
                                              {"type": "text", "text": "there"}]},
                 {"role": "assistant", "content": None},
                 {"role": "tool", "content": "42"}]}))
write("openai_request", "completion", dumps({"model": "kvc-tiny", "prompt": "Once upon a time"}))
write("openai_request", "completion_tokens", dumps(
    {"model": "kvc-tiny", "prompt": [1, 2, 3, 4294967295], "max_completion_tokens": 5,
     "stop": "."}))
write("openai_request", "completion_list", dumps({"model": "m", "prompt": ["é ü"], "stream": False}))

# --- sse_roundtrip: [pieces|endpoint][include_usage] text ---------------------------
write("sse_roundtrip", "chat_ascii", b"\x03\x01Hello, streaming world!")
write("sse_roundtrip", "completion_utf8", b"\x85\x00" + "naïve café — 日本語 🙂".encode())
write("sse_roundtrip", "invalid_utf8", b"\x0f\x01a\xff\xfeb\xe6\x97c\"\\\n\r\x00end")
write("sse_roundtrip", "empty", b"\x00\x00")

# --- http_request: raw bytes of one connection --------------------------------------
body = dumps(chat)
write("http_request", "post", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
      "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
write("http_request", "get_keepalive", "GET /health?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
write("http_request", "chunked", "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
      "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
write("http_request", "stream_http10", "GET /stream HTTP/1.0\r\n\r\n")
write("http_request", "stream_http11", "POST /stream HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
write("http_request", "not_found", "DELETE /nope HTTP/1.1\r\nHost: x\r\n\r\n")
write("http_request", "put_expect", "PUT /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
      "Content-Length: 3\r\n\r\nabc")
write("http_request", "bad_length", "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 3\r\n"
      "Content-Length: 4\r\n\r\nabcd")

# --- tcp_wire: byte 0 bit 0 = valid hello first; frames (transfer/internal/wire.h) --
REMOTE, LOCAL = 0x700000000000, 0x700000100000


def frame(op, seq, addr, length):
    return struct.pack("<B7xQQQ", op, seq, addr, length)


def verbs_request(nic_a=b"mlx5_0", nic_b=b"mlx5_1", qpn=0x1234, psn=0x42, lid=0, mtu=5, port=1):
    return (struct.pack("<IHH", 0x5143564B, 1, 0) + nic_a.ljust(64, b"\0") +
            nic_b.ljust(64, b"\0") + struct.pack("<IIHBB", qpn, psn, lid, mtu, port) +
            bytes(range(16)))


def verbs_reply(qpn=0x99, psn=7, lid=3, mtu=3, port=1):
    return struct.pack("<IHH", 0x5143564B, 1, 0) + struct.pack("<IIHBB", qpn, psn, lid, mtu, port) \
        + bytes(16)


write("tcp_wire", "get_segment", b"\x01" + frame(3, 1, 0, 0))
write("tcp_wire", "write_read", b"\x01" + frame(4, 0, 77, 0) + frame(2, 1, REMOTE + 16, 8) +
      b"ABCDEFGH" + frame(2, 2, REMOTE, 4) + b"wxyz" + frame(1, 3, REMOTE, 32))
write("tcp_wire", "out_of_region", b"\x01" + frame(1, 1, LOCAL, 16) + frame(2, 2, LOCAL, 4) +
      b"zzzz" + frame(1, 3, REMOTE + 65530, 16) + frame(3, 4, 0, 0))
write("tcp_wire", "fence", b"\x01" + frame(4, 0, 5, 0) + frame(5, 0, 6, 0) + frame(5, 0, 5, 0))
vr = verbs_request()
write("tcp_wire", "verbs_connect", b"\x01" + frame(6, 1, 0, len(vr)) + vr)
write("tcp_wire", "hello_wrong_token", b"\x00" + struct.pack("<IHH", 0x5443564B, 1, 5) + b"wrong")
write("tcp_wire", "hello_bad_version", b"\x00" + struct.pack("<IHH", 0x5443564B, 9, 0))

# --- shm_handshake: byte 0 bit 0 = valid hello; [len][bytes] or 255 + offset,len ----
def export(offset, length):
    return b"\xff" + struct.pack("<II", offset, length)


write("shm_handshake", "export_whole", b"\x01" + export(0, 65536))
write("shm_handshake", "export_inside", b"\x01" + export(4096, 100) + export(0, 65537) +
      export(0x80000010, 16))
raw_hello = struct.pack("<IHH", 0x5343564B, 1, 5) + b"wrong"
write("shm_handshake", "wrong_token", b"\x00" + bytes([len(raw_hello)]) + raw_hello)
write("shm_handshake", "garbage_after_hello", b"\x01\x04abcd" + export(8, 8))

# --- verbs_wire: byte 0 bit 0 = reply decoder ----------------------------------------
write("verbs_wire", "request", b"\x00" + verbs_request())
write("verbs_wire", "request_roce", b"\x00" + verbs_request(b"rocep1s0", b"x", 0xFFFFFF, 0, 0, 1, 2))
write("verbs_wire", "reply", b"\x01" + verbs_reply())


# --- safetensors: whole files --------------------------------------------------------
def safetensors(tensors, metadata=None):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


write("safetensors", "f32", safetensors([("w", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4))]))
write("safetensors", "mixed", safetensors([
    ("a.bf16", "BF16", [3], struct.pack("<3H", 0x3F80, 0xC000, 0x7F80)),
    ("b.f16", "F16", [1, 2], struct.pack("<2H", 0x3C00, 0x8001)),
    ("scalar", "F32", [], struct.pack("<f", 0.5)),
    ("empty", "F32", [0, 4], b"")], {"format": "pt"}))

# --- tokenizer_json: the layout of tokenizer_builder.cc, small vocabularies --------


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


B2U = bytes_to_unicode()


def sym(s):
    return "".join(B2U[b] for b in s.encode())


def tokenizer(merges, specials, llama3):
    vocab = {B2U[b]: b for b in range(256)}
    out_merges = []
    for a, b in merges:
        out_merges.append(sym(a) + " " + sym(b))
        if sym(a + b) not in vocab:
            vocab[sym(a + b)] = len(vocab)
    added = []
    for s in specials:
        added.append({"id": len(vocab) + len(added), "content": s, "single_word": False,
                      "lstrip": False, "rstrip": False, "normalized": False, "special": True})
    pre = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    if llama3:
        pre = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex":
                "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
             "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
             "use_regex": False}]}
    doc = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
           "normalizer": None, "pre_tokenizer": pre, "post_processor": None,
           "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                       "use_regex": True},
           "model": {"type": "BPE", "dropout": None, "unk_token": None, "fuse_unk": False,
                     "byte_fallback": False, "vocab": vocab, "merges": out_merges}}
    return dumps(doc)


merges = [("h", "e"), ("l", "l"), ("he", "ll"), ("hell", "o"), (" ", "w"), ("o", "r")]
write("tokenizer_json", "gpt2", tokenizer(merges, ["<|endoftext|>"], False))
write("tokenizer_json", "llama3_text", tokenizer(
    merges, ["<|begin_of_text|>", "<|eot_id|>"], True) + "\0hello world <|eot_id|> 12345")

# --- trace: lines of kvc's synthetic trace, and the aliases --------------------------
with open(os.path.join(ROOT, "tests", "data", "synthetic_trace.jsonl")) as f:
    lines = f.read().splitlines()
write("trace", "synthetic_head", "\n".join(lines[:8]) + "\n")
write("trace", "aliases", '{"timestamp": 0, "input_tokens": 513, "output_tokens": 2, '
      '"hash_ids": [1, 2], "session_id": 7}\n\n{"timestamp": 1.5, "input_length": 1, '
      '"output_length": 1, "hash_ids": [], "session_id": "s"}\n')

# --- master: FuzzedDataProvider bytes (any bytes are a valid op sequence) ------------
rng = random.Random(13)
for i in range(4):
    write("master", "random%d" % i, bytes(rng.randrange(256) for _ in range(512)))
