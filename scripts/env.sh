# Source me: puts Node 24 and pnpm first on PATH, installing them once per machine from the npm registry.
_restitch_cache="${RESTITCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/restitch}"
_restitch_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(_restitch_node_major)" -lt 24 ]; then
  if [ ! -x "$_restitch_cache/node24/node_modules/node/bin/node" ]; then
    echo "restitch: installing Node 24 from the npm registry into $_restitch_cache/node24" >&2
    npm install --silent --no-audit --no-fund --prefix "$_restitch_cache/node24" node@24 >&2
  fi
  export PATH="$_restitch_cache/node24/node_modules/node/bin:$PATH"
fi
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null | cut -d. -f1)" != "10" ]; then
  if [ ! -x "$_restitch_cache/pnpm/node_modules/.bin/pnpm" ]; then
    echo "restitch: installing pnpm 10 from the npm registry into $_restitch_cache/pnpm" >&2
    npm install --silent --no-audit --no-fund --prefix "$_restitch_cache/pnpm" pnpm@10.34.8 >&2
  fi
  export PATH="$_restitch_cache/pnpm/node_modules/.bin:$PATH"
fi
unset -f _restitch_node_major
