# feederwatch edge gateway. Multi-stage: build with dev dependencies, run with production ones only.
# Node 22 is an LTS line; the code also runs on Node 20 (see package.json engines).

FROM node:22-bookworm-slim AS build
WORKDIR /app
# Tool chain for native modules (serialport) should a prebuilt binary not match the platform (e.g. arm64 musl).
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
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
# The site configuration is mounted here (read-only); secrets come in as environment variables.
RUN mkdir -p /etc/feederwatch /var/lib/feederwatch && chown node:node /var/lib/feederwatch
VOLUME ["/var/lib/feederwatch"]
# Runs as the unprivileged user of the official image; add it to the host's dialout group
# (--group-add) for RS-485 adapters passed in with --device.
USER node
ENTRYPOINT ["node", "/app/dist/gateway/cli.js"]
CMD ["run", "--config", "/etc/feederwatch/site.yaml"]
