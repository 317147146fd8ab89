"""Write a tiny random-weight llama GGUF that a real llama-server loads and serves in milliseconds.

The model is gibberish by construction; it exists so tests can exercise real llama.cpp behaviour
(HTTP, SSE, /infill, cancellation) without downloading weights.

Design:
- Architecture ``llama``: 2 layers, n_embd 64, 4 heads, n_ff 128, all tensors F32 (about 0.5 MB).
- Tokenizer ``gpt2`` (byte-level BPE, pre-tokenizer ``default``): ids 0..255 are the 256 bytes (id == byte
  value, in GPT-2's byte-to-unicode spelling), then Qwen2.5-Coder style special tokens, then a few merged
  tokens (runs of spaces, common pairs) so that real BPE merges happen.
  Vocabulary: 273 tokens. Ids: 256 ``<|endoftext|>`` (bos = eos), 257 ``<|fim_prefix|>``, 258 ``<|fim_middle|>``,
  259 ``<|fim_suffix|>``, 260 ``<|fim_pad|>``, 261 ``<|repo_name|>``, 262 ``<|file_sep|>``, 263 ``<|im_start|>``,
  264 ``<|im_end|>`` (eot), 265-272 merged tokens.
- FIM: ``tokenizer.ggml.fim_{pre,suf,mid,pad,rep,sep}_token_id`` all declared.
- Chat template: ChatML.
- The output head is biased so that printable ASCII, spaces and newlines dominate and special/end-of-generation
  tokens are (practically) never sampled: every generation runs until ``n_predict``, the end of the context or a
  ``stop`` string (never ``stop_type: "eos"``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SEED = 20240611

N_EMBD = 64
N_HEAD = 4
N_HEAD_KV = 4
N_LAYER = 2
N_FF = 128
N_CTX_TRAIN = 4096

# Special tokens (Qwen2.5-Coder spelling, so llama.cpp also recognises them by text).
SPECIAL_TOKENS = [
    "<|endoftext|>",  # 256: bos / eos
    "<|fim_prefix|>",  # 257
    "<|fim_middle|>",  # 258
    "<|fim_suffix|>",  # 259
    "<|fim_pad|>",  # 260
    "<|repo_name|>",  # 261
    "<|file_sep|>",  # 262
    "<|im_start|>",  # 263
    "<|im_end|>",  # 264: eot
]
BOS_ID = EOS_ID = 256
FIM_PRE_ID = 257
FIM_MID_ID = 258
FIM_SUF_ID = 259
FIM_PAD_ID = 260
FIM_REP_ID = 261
FIM_SEP_ID = 262
IM_START_ID = 263
EOT_ID = 264

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable unicode character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs, strict=True)}


BYTE_CHARS = _bytes_to_unicode()


def _enc(text: str) -> str:
    return "".join(BYTE_CHARS[b] for b in text.encode("utf-8"))


# Merges (in rank order) and the tokens they produce.
_MERGE_PAIRS = [
    ("  ", None),  # two spaces
    ("    ", "  "),  # four spaces (from two double-spaces)
    ("in", None),
    ("er", None),
    ("th", None),
    (" t", None),
    ("de", None),
    ("re", None),
]


def _merges() -> tuple[list[str], list[str]]:
    merges: list[str] = []
    tokens: list[str] = []
    for text, half in _MERGE_PAIRS:
        if half is None:
            left, right = _enc(text[0]), _enc(text[1:])
        else:
            left = right = _enc(half)
        merges.append(f"{left} {right}")
        tokens.append(_enc(text))
    return merges, tokens


def vocabulary(*, fim: bool = True) -> tuple[list[str], list[int], list[str]]:
    """Return (tokens, token_types, merges). Without ``fim`` the FIM tokens get neutral names (ids unchanged)."""
    from gguf import TokenType

    merges, merged_tokens = _merges()
    specials = list(SPECIAL_TOKENS)
    if not fim:
        # llama.cpp also detects FIM tokens by their text, so rename them, not just leave the ids out.
        for i in range(FIM_PRE_ID, FIM_SEP_ID + 1):
            specials[i - 256] = f"<|reserved_{i}|>"
    tokens = [BYTE_CHARS[b] for b in range(256)] + specials + merged_tokens
    types = [int(TokenType.NORMAL)] * 256 + [int(TokenType.CONTROL)] * len(SPECIAL_TOKENS)
    types += [int(TokenType.NORMAL)] * len(merged_tokens)
    return tokens, types, merges


def _weights(n_vocab: int, favoured: np.ndarray, special: np.ndarray) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(SEED)

    def rnd(*shape: int, std: float) -> np.ndarray:
        return (rng.standard_normal(shape) * std).astype(np.float32)

    head_dim = N_EMBD // N_HEAD
    t: dict[str, np.ndarray] = {}
    # Dimension 0 of the residual stream is a constant: every embedding has 16.0 there and no layer
    # writes to it (row 0 of attn_output / ffn_down is zero). After the final RMS norm it stays large, so
    # column 0 of the output head acts as a per-token logit bias.
    emb = rnd(n_vocab, N_EMBD, std=0.5)
    emb[:, 0] = 16.0
    t["token_embd.weight"] = emb
    for i in range(N_LAYER):
        p = f"blk.{i}."
        t[p + "attn_norm.weight"] = np.ones(N_EMBD, dtype=np.float32)
        t[p + "attn_q.weight"] = rnd(N_HEAD * head_dim, N_EMBD, std=0.3)
        t[p + "attn_k.weight"] = rnd(N_HEAD_KV * head_dim, N_EMBD, std=0.3)
        t[p + "attn_v.weight"] = rnd(N_HEAD_KV * head_dim, N_EMBD, std=0.3)
        t[p + "attn_output.weight"] = rnd(N_EMBD, N_HEAD * head_dim, std=0.1)
        t[p + "attn_output.weight"][0, :] = 0.0
        t[p + "ffn_norm.weight"] = np.ones(N_EMBD, dtype=np.float32)
        t[p + "ffn_gate.weight"] = rnd(N_FF, N_EMBD, std=0.3)
        t[p + "ffn_up.weight"] = rnd(N_FF, N_EMBD, std=0.3)
        t[p + "ffn_down.weight"] = rnd(N_EMBD, N_FF, std=0.05)
        t[p + "ffn_down.weight"][0, :] = 0.0
    t["output_norm.weight"] = np.ones(N_EMBD, dtype=np.float32)
    out = rnd(n_vocab, N_EMBD, std=0.35)
    out[:, 0] = -1.0
    out[favoured, 0] = 1.0
    out[ord(" "), 0] = 1.5  # some spaces ...
    out[ord("\n"), 0] = 2.6  # ... and line breaks: multi-line suggestions
    out[special, 0] = -4.0
    t["output.weight"] = out
    return t


def write_tiny_model(path: Path, *, fim: bool = True) -> Path:
    """Write the tiny model to ``path`` (a ``.gguf`` file) and return ``path``. Deterministic.

    ``fim=False`` writes the same model without FIM tokens (llama-server then answers /infill with 501).
    """
    from gguf import GGUFWriter, Keys, LlamaFileType

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tokens, types, merges = vocabulary(fim=fim)
    n_vocab = len(tokens)

    printable = [b for b in range(0x20, 0x7F)] + [0x0A]
    favoured = np.array(printable + list(range(256 + len(SPECIAL_TOKENS), n_vocab)))
    special = np.arange(256, 256 + len(SPECIAL_TOKENS))

    w = GGUFWriter(path, "llama")
    w.add_name("llm-lsp tiny random llama")
    w.add_file_type(int(LlamaFileType.ALL_F32))
    w.add_context_length(N_CTX_TRAIN)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_rope_dimension_count(N_EMBD // N_HEAD)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(n_vocab)

    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(BOS_ID)
    w.add_eos_token_id(EOS_ID)
    w.add_eot_token_id(EOT_ID)
    w.add_pad_token_id(FIM_PAD_ID)
    w.add_add_bos_token(False)
    if fim:
        w.add_uint32(Keys.Tokenizer.FIM_PRE_ID, FIM_PRE_ID)
        w.add_uint32(Keys.Tokenizer.FIM_SUF_ID, FIM_SUF_ID)
        w.add_uint32(Keys.Tokenizer.FIM_MID_ID, FIM_MID_ID)
        w.add_uint32(Keys.Tokenizer.FIM_PAD_ID, FIM_PAD_ID)
        w.add_uint32(Keys.Tokenizer.FIM_REP_ID, FIM_REP_ID)
        w.add_uint32(Keys.Tokenizer.FIM_SEP_ID, FIM_SEP_ID)
    w.add_chat_template(CHAT_TEMPLATE)

    for name, arr in _weights(n_vocab, favoured, special).items():
        w.add_tensor(name, arr)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


if __name__ == "__main__":  # pragma: no cover - manual helper
    import sys

    print(write_tiny_model(Path(sys.argv[1] if len(sys.argv) > 1 else "tiny.gguf")))
