# feederwatch edge gateway. Multi-stage: build with dev dependencies, run with production ones only.
# Node 22 is an LTS line; the code also runs on Node 20 (see package.json engines). Deployment: docs/deploy.md.

FROM node:22-bookworm-slim AS build
WORKDIR /app
# Tool chain for native modules (serialport, better-sqlite3) should a prebuilt binary not match the platform.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
# config/ before the build: the gateway imports config/site.schema.json and config/device-template.schema.json
# (compiled into dist/config/).
COPY config ./config
COPY gateway ./gateway
COPY drivers ./drivers
COPY simulators ./simulators
RUN npm run build && npm prune --omit=dev

FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
COPY --chown=root:root config ./config
COPY --chown=root:root docs ./docs
# The site configuration is mounted at /etc/feederwatch/site.yaml (read-only); secrets come in as environment
# variables. State (persistence.stateDir in the site file) goes to /var/lib/feederwatch: mount a volume there.
RUN mkdir -p /etc/feederwatch /var/lib/feederwatch && chown node:node /var/lib/feederwatch
VOLUME ["/var/lib/feederwatch"]
# Runs as the unprivileged user of the official image; add it to the host's dialout group
# (--group-add) for RS-485 adapters passed in with --device.
USER node
# Liveness from the gateway's own HTTP server (http: in the site file; default 127.0.0.1:8080, /healthz needs no
# token). node's fetch, since the slim image has no curl. A site that moves or disables the HTTP server sets
# FEEDERWATCH_HEALTHZ_URL (read by this check only) or runs the container with --no-healthcheck.
ENV FEEDERWATCH_HEALTHZ_URL=http://127.0.0.1:8080/healthz
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.FEEDERWATCH_HEALTHZ_URL,{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/gateway/cli.js"]
CMD ["run", "--config", "/etc/feederwatch/site.yaml"]
