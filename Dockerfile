# Blockrunner image: one image for the manager and the workers (the command picks which).
#   docker build -t blockrunner .
#   docker run -p 8080:8080 -e DATABASE_URL=postgres://... blockrunner manager
# docker-compose.yml runs PostgreSQL, a manager and scalable workers; docs/deployment.md.
# test/deploy/dockerfile.slow.test.ts replays this file's stages, the dashboard and HEALTHCHECK.
# Node 24 (LTS) in both stages; .ci/run tests the same line with .ci/node24/node.

# Build stage: every dependency (TypeScript is a dev dependency), then the compiled dist/.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would build before the sources are here; the build runs below.
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY shared ./shared
COPY manager ./manager
COPY worker ./worker
COPY cli ./cli
RUN npm run build

# Runtime stage: production dependencies only, the compiled code, the migrations, the dashboard.
FROM node:24-bookworm-slim AS runtime
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` builds with tsc, a dev dependency; dist/ comes from the build stage.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
# The dashboard's browser files, served as they are from the package's manager/dashboard/public
# (manager/dashboard/routes.ts finds them from dist/): without them GET / answers 404.
COPY manager/dashboard/public ./manager/dashboard/public
# The embedded database (no DATABASE_URL) keeps its files here; mount a volume to keep them.
RUN mkdir /data && chown node:node /data
# Inside a container the manager is reached through a published port, never on its loopback.
ENV HOST=0.0.0.0 \
    PORT=8080 \
    BLOCKRUNNER_DATA_DIR=/data
USER node
EXPOSE 8080
# /healthz answers 200 while the manager serves; workers answer on BLOCKRUNNER_HEALTH_PORT instead
# (compose and deploy/kubernetes check that port there).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["manager"]
