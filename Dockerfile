# syntax=docker/dockerfile:1
#
# keyturn's container image: Node 24 LTS, production dependencies only, runs as the unprivileged
# `node` user, writes only under /var/lib/keyturn (run it with a read-only root filesystem).
#
#   docker build -t keyturn .
#   docker run --read-only --tmpfs /tmp -v keyturn-data:/var/lib/keyturn -p 3978:3978 \
#     --env-file keyturn.env keyturn
#
# What the runtime stage contains is tested without a Docker engine by test/e2e/runtime-image.test.ts:
# it assembles the same files (the COPY lines below) into a clean folder, installs the production
# dependencies, starts keyturn there, asks /healthz with this file's HEALTHCHECK command and stops it
# with SIGTERM. Deployment on Azure: docs/deploy-azure.md.

# One exact Node version for every stage, so the native module compiled in `deps` matches the Node
# that runs it (same major, same Debian release and glibc).
ARG NODE_VERSION=24.22.3

# --- production dependencies -------------------------------------------------------------------
# The full (non-slim) image has python3, make and g++: better-sqlite3 downloads its prebuilt binary
# or, where GitHub is out of reach, compiles from the source in its npm package.
FROM node:${NODE_VERSION}-bookworm AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
  && npm cache clean --force

# --- build: every dependency, TypeScript compiled to dist/ ------------------------------------------
FROM node:${NODE_VERSION}-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
# .dockerignore keeps node_modules, dist, data, keys and local toolchains out of this copy
COPY . .
RUN npm run build

# --- runtime ------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# NODE_ENV=production refuses the sandbox, the simulator credential and unauthenticated Teams: a
# misconfigured container stops with an error naming the fix instead of running against nothing.
# The data directory and the checkpoint signing key sit in separate folders of one volume, so the
# database can be backed up without the key (docs/deploy-azure.md).
ENV NODE_ENV=production \
    PORT=3978 \
    KEYTURN_CONSOLE=off \
    KEYTURN_DATA_DIR=/var/lib/keyturn/data \
    KEYTURN_SIGNING_KEY_FILE=/var/lib/keyturn/signing/keyturn-signing.key \
    AZURE_TOKEN_CREDENTIALS=prod
WORKDIR /app
# Files are owned by root and only readable by `node`: the program cannot change itself.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/adapters ./dist/adapters
COPY --from=build /app/src/sandbox/scenarios ./src/sandbox/scenarios
RUN mkdir -p /var/lib/keyturn/data /var/lib/keyturn/signing \
  && chown -R node:node /var/lib/keyturn \
  && chmod 700 /var/lib/keyturn/signing
USER node
VOLUME ["/var/lib/keyturn"]
EXPOSE 3978
# node is PID 1 and keyturn handles SIGTERM itself: it says what happens to each open change, lets a
# step in flight finish its store write, and exits 0. keyturn starts no child processes, so there are
# no zombies to reap; `docker run --init` adds tini if you want it anyway.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3978)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# --optimize-for-size: V8 keeps its heap close to what is live. keyturn alone stays under 150 MB RSS
# through a 5,000-account inventory with it, ~300 MB without (docs/benchmarks.md). It cannot be set
# in NODE_OPTIONS (Node refuses that V8 flag there), so it is on the command line.
ENTRYPOINT ["node", "--optimize-for-size", "dist/src/cli.js"]
CMD ["start"]
