/**
 * deploy/kubernetes checked without a cluster (docs/deployment.md, "Kubernetes"): the base, the
 * autoscaling parts and the example overlay resolve as kustomize would (test/deploy/kubernetes.ts),
 * every object passes the Kubernetes (and KEDA) schemas of kubernetes-models, every variable set
 * in a container is one its command's config schema accepts, and the probe paths, the preStop
 * hook and the metric names the autoscalers query are tried on a real manager and worker.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { managerConfigSchema } from '../../manager/config.js';
import { type Env, parseConfig } from '../../shared/config.js';
import { loadWorkerConfig, workerConfigSchema } from '../../worker/config.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';
import { api } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { startManager, startWorker, stopAll } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import {
  build,
  containers,
  KUBERNETES_DIR,
  key,
  type Manifest,
  merge,
  metricFamilies,
  metricNames,
  readManifests,
  typeProblems,
} from './kubernetes.js';

/** The model that validates each apiVersion and kind the manifests use. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1 Deployment': Deployment,
  'v1 Service': Service,
  'v1 Secret': Secret,
  'v1 Namespace': Namespace,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget,
  'networking.k8s.io/v1 NetworkPolicy': NetworkPolicy,
  'autoscaling/v2 HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'keda.sh/v1alpha1 ScaledObject': ScaledObject,
};

function validate(object: Manifest): void {
  const Model = MODELS[`${object.apiVersion} ${object.kind}`];
  if (!Model) throw new Error(`${key(object)}: no schema for ${object.apiVersion} ${object.kind}`);
  new Model(object as never).validate();
}

const TREES = {
  base: join(KUBERNETES_DIR, 'base'),
  keda: join(KUBERNETES_DIR, 'keda'),
  hpa: join(KUBERNETES_DIR, 'hpa'),
  example: join(KUBERNETES_DIR, 'overlays', 'example'),
};
const base = build(TREES.base);
const example = build(TREES.example);

function find(objects: Manifest[], kind: string, name: string): Manifest {
  const found = objects.find((object) => key(object) === `${kind}/${name}`);
  if (!found) throw new Error(`no ${kind}/${name}`);
  return found;
}
const manager = find(base, 'Deployment', 'blockrunner-manager');
const worker = find(base, 'Deployment', 'blockrunner-worker');
const scaledObject = find(build(TREES.keda), 'ScaledObject', 'blockrunner-worker');
const hpa = find(build(TREES.hpa), 'HorizontalPodAutoscaler', 'blockrunner-worker');
const [adapterValues] = readManifests(join(TREES.hpa, 'prometheus-adapter-rules.yaml'));

/** The one container of a Deployment. */
// biome-ignore lint/suspicious/noExplicitAny: see Manifest
function containerOf(deployment: Manifest): Record<string, any> {
  const [container] = containers([deployment]);
  if (!container) throw new Error(`${key(deployment)} has no container`);
  return container;
}

/** A container's environment, secrets and pod fields resolved as the kubelet would. */
function environment(objects: Manifest[], deployment: Manifest): Env {
  const env: Env = {};
  const container = containerOf(deployment);
  for (const variable of container?.env ?? []) {
    const { name, value, valueFrom } = variable;
    if (value !== undefined) env[name] = value;
    else if (valueFrom?.secretKeyRef) {
      const secret = find(objects, 'Secret', valueFrom.secretKeyRef.name);
      const found = secret.stringData?.[valueFrom.secretKeyRef.key];
      // An optional key the Secret lacks leaves the variable unset, as the kubelet does.
      if (found !== undefined) env[name] = found;
      else if (!valueFrom.secretKeyRef.optional)
        throw new Error(`${name}: the Secret has no such key`);
    } else if (valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[name] = 'worker-pod-0';
    else throw new Error(`${name}: a value source the test does not resolve`);
  }
  return env;
}

/** The PromQL expressions of the autoscalers, where they come from. */
function autoscalerQueries(): { where: string; expr: string }[] {
  const keda = (scaledObject.spec.triggers as { name: string; metadata: { query: string } }[]).map(
    (trigger) => ({ where: `ScaledObject ${trigger.name}`, expr: trigger.metadata.query }),
  );
  const rules = (adapterValues?.rules.external ?? []) as {
    metricsQuery: string;
    seriesQuery: string;
  }[];
  const adapter = rules.flatMap((rule) => [
    { where: 'prometheus-adapter metricsQuery', expr: rule.metricsQuery },
    { where: 'prometheus-adapter seriesQuery', expr: rule.seriesQuery },
  ]);
  return [...keda, ...adapter];
}

describe('deploy/kubernetes, resolved as kustomize does', () => {
  it('passes the Kubernetes and KEDA schemas, every object of every tree', () => {
    for (const [tree, dir] of Object.entries(TREES)) {
      const objects = build(dir);
      expect(objects.length, tree).toBeGreaterThan(0);
      for (const object of objects) expect(() => validate(object), key(object)).not.toThrow();
    }
    // The check can fail: a wrong type or an unknown kind is refused.
    expect(() => validate(merge(manager, { spec: { replicas: 'two' } }) as Manifest)).toThrow();
    expect(() => validate({ ...manager, kind: 'Deploymnet' })).toThrow(/no schema/);
  });

  it('has no field that Kubernetes or KEDA does not know, at any depth', () => {
    const all = Object.values(TREES).flatMap((dir) => build(dir));
    expect(typeProblems(all)).toEqual([]);
    // The check can fail: a misspelt field deep in a pod template is named, with its object.
    const misspelt = merge(worker, {
      spec: { template: { spec: { terminationGracePeriodSecond: 45 } } },
    }) as Manifest;
    const problems = typeProblems([misspelt]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^Deployment\/blockrunner-worker: .*terminationGracePeriodSecond/);
  });

  it('runs two managers behind a Service that only a ready one (the leader) serves', () => {
    expect(manager.spec.replicas).toBe(2);
    // A standby is never ready: a rolling update would wait on it forever.
    expect(manager.spec.strategy).toEqual({ type: 'Recreate' });
    const container = containerOf(manager);
    expect(container.args).toEqual(['manager']);
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.resources.requests).toBeDefined();
    expect(container.resources.limits).toBeDefined();
    const service = find(base, 'Service', 'blockrunner-manager');
    expect(service.spec.selector).toEqual(manager.spec.selector.matchLabels);
    expect(service.spec.publishNotReadyAddresses).toBeUndefined();
    expect(environment(base, worker).BLOCKRUNNER_MANAGER_URL).toBe(
      `ws://${service.metadata.name}:${service.spec.ports[0].port}/v1/ws`,
    );
  });

  it('gives workers time to hand back their heights, and a budget for drains', () => {
    const env = loadWorkerConfig(environment(base, worker));
    const container = containerOf(worker);
    expect(container.args).toEqual(['worker']);
    expect(worker.spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
      env.BLOCKRUNNER_SHUTDOWN_MS + 5_000,
    );
    expect(container.lifecycle.preStop.exec.command[0]).toBe('node');
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(container.ports).toEqual([
      { name: 'health', containerPort: env.BLOCKRUNNER_HEALTH_PORT },
    ]);
    expect(container.resources.requests).toBeDefined();
    expect(container.resources.limits).toBeDefined();
    const budget = find(base, 'PodDisruptionBudget', 'blockrunner-worker');
    expect(budget.spec.selector).toEqual(worker.spec.selector);
  });

  it('lets only workers (and pods labelled as API clients) reach the manager port', () => {
    const policy = find(base, 'NetworkPolicy', 'blockrunner-manager');
    expect(policy.spec.podSelector).toEqual(manager.spec.selector);
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    const [rule] = policy.spec.ingress;
    expect(policy.spec.ingress).toHaveLength(1);
    expect(rule.ports).toEqual([{ port: 8080, protocol: 'TCP' }]);
    expect(rule.from[0]).toEqual({ podSelector: worker.spec.selector });
    expect(rule.from[1].podSelector).toEqual({
      matchLabels: { 'blockrunner.io/api-client': 'true' },
    });
    expect(rule.from).toHaveLength(2);
  });

  it('reads the tokens and DATABASE_URL from the Secret, and sets only variables the CLI knows', () => {
    for (const objects of [base, example]) {
      const managerEnv = environment(objects, find(objects, 'Deployment', 'blockrunner-manager'));
      const workerEnv = environment(objects, find(objects, 'Deployment', 'blockrunner-worker'));
      const managerKnown = Object.keys(managerConfigSchema.shape);
      const workerKnown = Object.keys(workerConfigSchema.shape);
      expect(Object.keys(managerEnv).filter((name) => !managerKnown.includes(name))).toEqual([]);
      expect(Object.keys(workerEnv).filter((name) => !workerKnown.includes(name))).toEqual([]);
      // Every value parses, by the same functions the CLI uses.
      expect(() => parseConfig(managerConfigSchema, managerEnv)).not.toThrow();
      expect(() => loadWorkerConfig(workerEnv)).not.toThrow();
    }
    for (const name of ['DATABASE_URL', 'BLOCKRUNNER_API_TOKEN', 'BLOCKRUNNER_WORKER_TOKEN']) {
      const container = containerOf(manager);
      const variable = container.env.find((entry: { name: string }) => entry.name === name);
      expect(variable?.valueFrom?.secretKeyRef, name).toEqual({ name: 'blockrunner', key: name });
    }
    const workerContainer = containerOf(worker);
    expect(
      workerContainer.env.find(
        (entry: { name: string }) => entry.name === 'BLOCKRUNNER_WORKER_TOKEN',
      )?.valueFrom?.secretKeyRef,
    ).toEqual({ name: 'blockrunner', key: 'BLOCKRUNNER_WORKER_TOKEN' });
    // The check can fail: a misspelt variable or a bad value is refused.
    expect(() => loadWorkerConfig({ BLOCKRUNNER_CONCURRENCY: 'many' })).toThrow(
      /BLOCKRUNNER_CONCURRENCY/,
    );
  });

  it('the example overlay: its namespace, image, secret values and KEDA on top of the base', () => {
    const names = example.map(key).sort();
    expect(names).toEqual(
      [...base.map(key), 'Namespace/blockrunner', 'ScaledObject/blockrunner-worker'].sort(),
    );
    for (const object of example) {
      if (object.kind !== 'Namespace')
        expect(object.metadata.namespace, key(object)).toBe('blockrunner');
      expect(object.metadata.labels?.['app.kubernetes.io/part-of'], key(object)).toBe(
        'blockrunner',
      );
    }
    for (const container of containers(example))
      expect(container.image).toBe('registry.example.com/blockrunner:0.1.0');
    const workerEnv = environment(example, find(example, 'Deployment', 'blockrunner-worker'));
    expect(workerEnv).toMatchObject({
      BLOCKRUNNER_HANDLER: 'sleep',
      BLOCKRUNNER_CONCURRENCY: '32',
    });
    // Patched by name: the base's other variables are still there.
    expect(workerEnv.BLOCKRUNNER_HEALTH_PORT).toBe('8081');
    expect(find(example, 'Secret', 'blockrunner').stringData.DATABASE_URL).toContain(
      'db.example.com',
    );
  });

  it('scales the worker Deployment, with KEDA or an HPA, on the same work-left query', () => {
    expect(scaledObject.spec.scaleTargetRef).toEqual({ name: worker.metadata.name });
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: worker.metadata.name,
    });
    const [rule] = adapterValues?.rules.external ?? [];
    expect(hpa.spec.metrics[0].external.metric.name).toBe(rule.name.as);
    const [workLeft] = scaledObject.spec.triggers;
    expect(rule.metricsQuery.replaceAll('{<<.LabelMatchers>>}', '')).toBe(workLeft.metadata.query);
    expect(hpa.spec.metrics[0].external.target.averageValue).toBe(workLeft.metadata.threshold);
  });
});

describe('deploy/kubernetes against a real manager and worker', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await stopAll();
    await db?.drop();
  });

  it('answers the probe paths: the leader ready, the standby not, a worker on its health port', async () => {
    const managerEnv = environment(base, manager);
    const env = {
      BLOCKRUNNER_API_TOKEN: managerEnv.BLOCKRUNNER_API_TOKEN as string,
      BLOCKRUNNER_WORKER_TOKEN: managerEnv.BLOCKRUNNER_WORKER_TOKEN as string,
    };
    const leader = await startManager({ databaseUrl: db.url, env });
    const standby = await startManager({ databaseUrl: db.url, env, waitForReady: false });
    await standby.waitForLog((entry) => String(entry.msg).startsWith('standby'), 10_000);
    const container = containerOf(manager);
    const { readinessProbe, livenessProbe } = container;
    expect((await fetch(`${leader.url}${readinessProbe.httpGet.path}`)).status).toBe(200);
    expect((await fetch(`${standby.url}${readinessProbe.httpGet.path}`)).status).toBe(503);
    for (const one of [leader, standby])
      expect((await fetch(`${one.url}${livenessProbe.httpGet.path}`)).status).toBe(200);

    const port = await freePort();
    const running = await startWorker({
      managerUrl: leader.wsUrl,
      env: {
        ...(environment(base, worker) as Record<string, string>),
        BLOCKRUNNER_MANAGER_URL: leader.wsUrl,
        BLOCKRUNNER_HEALTH_PORT: String(port),
      },
    });
    const workerContainer = containerOf(worker);
    const probe = (path: string) => fetch(`http://127.0.0.1:${port}${path}`);
    await waitFor(async () => (await probe(workerContainer.readinessProbe.httpGet.path)).ok, {
      timeoutMs: 10_000,
      message: 'the worker is ready on its health port',
    });
    expect((await probe(workerContainer.livenessProbe.httpGet.path)).status).toBe(200);

    // The preStop hook, aimed at this worker instead of PID 1: it returns once the worker has
    // closed its link, and the worker ends cleanly.
    await api(leader.url, env.BLOCKRUNNER_API_TOKEN).post('/v1/queues/default/heights', {
      from: 0,
      to: 99,
    });
    const [command, ...args] = workerContainer.lifecycle.preStop.exec.command as string[];
    const script = (args.at(-1) as string).replace(
      'process.kill(1,',
      `process.kill(${running.pid},`,
    );
    expect(script).toContain(`process.kill(${running.pid},`);
    const hook = spawn(command as string, [...args.slice(0, -1), script], {
      env: { ...process.env, BLOCKRUNNER_HEALTH_PORT: String(port) },
      stdio: 'ignore',
    });
    const hookCode = await new Promise<number | null>((resolve) => hook.once('exit', resolve));
    expect(hookCode).toBe(0);
    expect((await probe('/readyz').catch(() => undefined))?.status ?? 503).toBe(503);
    expect(await running.exited).toEqual({ code: 0, signal: null });
    expect(running.logs().join('\n')).toContain('worker stopped');
    await stopAll({ strict: false });
  });

  it('exports every metric the autoscalers query', async () => {
    const leader = await startManager({ databaseUrl: db.url });
    // A queue, so that the per-queue gauges have samples too.
    await api(leader.url).post('/v1/queues/default/heights', { from: 0, to: 9 });
    const response = await fetch(`${leader.url}/metrics`);
    expect(response.status).toBe(200);
    const families = metricFamilies(await response.text());
    const queried = autoscalerQueries().flatMap(({ where, expr }) =>
      metricNames(expr).map((name) => ({ where, name })),
    );
    expect(queried.map(({ name }) => name)).toEqual(
      expect.arrayContaining([
        'blockrunner_heights_pending',
        'blockrunner_heights_leased',
        'blockrunner_lag_heights',
      ]),
    );
    expect(queried.filter(({ name }) => !families.has(name))).toEqual([]);
    // The check can fail: a name the manager does not export is reported.
    expect(families.has('blockrunner_work_left_heights')).toBe(false);
    expect(metricNames('sum(max by (queue) (a_total{x="y"} + b))')).toEqual(['a_total', 'b']);
  });
});
