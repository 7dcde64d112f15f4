# syntax=docker/dockerfile:1
# pagefirst: the service's image is the last stage (the default target) and holds dist/ only.
# The demo backend of docker-compose.yml is its own target (`--target demo`), built from demo/.

FROM node:24-slim AS build
WORKDIR /app
# Compilers only for native modules whose prebuilt binary cannot be fetched (better-sqlite3).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src

FROM build AS demo-build
COPY tsconfig.demo.json ./
COPY demo ./demo
RUN npm run build:demo && npm prune --omit=dev --no-audit --no-fund

FROM node:24-slim AS demo
ENV NODE_ENV=production
WORKDIR /app
COPY --from=demo-build --chown=node:node /app/package.json ./package.json
COPY --from=demo-build --chown=node:node /app/node_modules ./node_modules
COPY --from=demo-build --chown=node:node /app/.demo-dist ./.demo-dist
RUN mkdir -p /var/log/demo-backend && chown node:node /var/log/demo-backend
USER 1000:1000
CMD ["node", ".demo-dist/demo/backend/main.js"]

FROM build AS service-build
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=service-build --chown=node:node /app/package.json ./package.json
COPY --from=service-build --chown=node:node /app/node_modules ./node_modules
COPY --from=service-build --chown=node:node /app/dist ./dist
# Writable places for the non-root user: the state store.
RUN mkdir -p /var/lib/pagefirst /etc/pagefirst \
 && chown node:node /var/lib/pagefirst
# Numeric, so Kubernetes' runAsNonRoot can verify it (a user name cannot be checked without the
# image's /etc/passwd): the node image's `node` user is uid/gid 1000 (nodejs/docker-node Dockerfile).
USER 1000:1000
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz', { signal: AbortSignal.timeout(3000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/server.js", "--config", "/etc/pagefirst/pagefirst.yml"]
