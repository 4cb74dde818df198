# syntax=docker/dockerfile:1
# hubbub-server as a container: build in one stage, run the compiled server with production
# dependencies only, as the unprivileged `node` user. Debian 13 (trixie) has glibc 2.41, so the
# native uWebSockets.js build loads on every Node version the image is built with (20, 22, 24).
#   docker build -t hubbub .                      (or --build-arg NODE_VERSION=22)
#   docker run -p 8080:8080 -e HUBBUB_API_KEYS=change-me hubbub
ARG NODE_VERSION=24

FROM node:${NODE_VERSION}-trixie-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY client/package.json client/
# No install scripts: nothing in the tree needs one to build (esbuild's binary is a package of its own).
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src src
COPY client client
RUN npm run build

FROM node:${NODE_VERSION}-trixie-slim
# A deployment shows no demo pages (`-e HUBBUB_DEMO=1` to try them); the console at /console stays,
# behind the API key.
ENV NODE_ENV=production \
    HUBBUB_HOST=0.0.0.0 \
    HUBBUB_PORT=8080 \
    HUBBUB_DEMO=0
WORKDIR /app
COPY package.json package-lock.json ./
COPY client/package.json client/
# npm's cache stays in a build cache mount, out of the image.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY --from=build /app/dist dist
COPY --from=build /app/client/dist client/dist
# For a durable single node: -e HUBBUB_DATA_DIR=/data -v hubbub-data:/data (the memory engine's
# append-only file; not with the Redis engine, which keeps its state in Redis).
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8080
# Node has fetch; the slim image has no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HUBBUB_PORT || 8080) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form: node is PID 1 and gets SIGTERM itself, so the graceful shutdown (clients told to
# reconnect elsewhere, acknowledged publications delivered, exit 0) runs on `docker stop`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/cli.js"]
