/**
 * deploy/kubernetes resolved without kustomize (not available offline): a kustomization's
 * `resources` (files and directories, recursively), then its strategic-merge `patches`,
 * `labels`, `namespace` and `images`, the subset of kustomize that deploy/kubernetes uses. A
 * field it does not know stops the resolution, so a kustomization growing past it fails the
 * test instead of being half applied. Also: unknown field names found by the models' TypeScript
 * types (their schemas accept any extra field, the API server in strict mode does not), and the
 * metric names a PromQL expression selects.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { packageRoot } from '../../shared/package-root.js';

export const KUBERNETES_DIR = join(packageRoot(), 'deploy', 'kubernetes');

// biome-ignore lint/suspicious/noExplicitAny: manifests are checked by the models, not by types
export type Manifest = Record<string, any> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
};

const KNOWN_FIELDS = new Set([
  'apiVersion',
  'kind',
  'resources',
  'patches',
  'labels',
  'namespace',
  'images',
]);
/** Kinds that live outside namespaces, which `namespace` leaves alone. */
const CLUSTER_KINDS = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);

/** Every YAML document of `file`, in order; empty documents are skipped. */
export function readManifests(file: string): Manifest[] {
  const documents = parseAllDocuments(readFileSync(file, 'utf8'));
  return documents.flatMap((document) => {
    if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]?.message}`);
    const value = document.toJS() as Manifest | null;
    return value === null ? [] : [value];
  });
}

export function key(manifest: Pick<Manifest, 'kind' | 'metadata'>): string {
  return `${manifest.kind}/${manifest.metadata.name}`;
}

/** The objects `kubectl apply -k <dir>` would send, as kustomize builds them. */
export function build(dir: string): Manifest[] {
  const file = join(dir, 'kustomization.yaml');
  const [kustomization] = readManifests(file);
  if (!kustomization) throw new Error(`${file} is empty`);
  const unknown = Object.keys(kustomization).filter((field) => !KNOWN_FIELDS.has(field));
  if (unknown.length > 0) throw new Error(`${file}: fields this resolver lacks: ${unknown}`);
  let objects: Manifest[] = [];
  for (const resource of (kustomization.resources ?? []) as string[]) {
    const path = join(dir, resource);
    if (!existsSync(path)) throw new Error(`${file}: resource ${resource} does not exist`);
    objects.push(...(statSync(path).isDirectory() ? build(path) : readManifests(path)));
  }
  const keys = objects.map(key);
  const twice = keys.filter((name, i) => keys.indexOf(name) !== i);
  if (twice.length > 0) throw new Error(`${file}: ${twice} defined twice`);

  for (const patch of (kustomization.patches ?? []) as { path: string }[]) {
    for (const change of readManifests(join(dir, patch.path))) {
      const index = objects.findIndex((object) => key(object) === key(change));
      if (index < 0) throw new Error(`${file}: patch ${patch.path} matches no ${key(change)}`);
      objects[index] = merge(objects[index], change) as Manifest;
    }
  }
  for (const { pairs } of (kustomization.labels ?? []) as { pairs: Record<string, string> }[]) {
    for (const object of objects) object.metadata.labels = { ...object.metadata.labels, ...pairs };
  }
  if (kustomization.namespace) {
    objects = objects.map((object) =>
      CLUSTER_KINDS.has(object.kind)
        ? object
        : { ...object, metadata: { ...object.metadata, namespace: kustomization.namespace } },
    );
  }
  for (const image of (kustomization.images ?? []) as {
    name: string;
    newName?: string;
    newTag?: string;
  }[]) {
    for (const container of containers(objects)) {
      const [name, tag] = splitImage(container.image);
      if (name !== image.name) continue;
      container.image = `${image.newName ?? name}:${image.newTag ?? tag ?? 'latest'}`;
    }
  }
  return objects;
}

/** Every container of every pod template (init containers included). */
// biome-ignore lint/suspicious/noExplicitAny: see Manifest
export function containers(objects: Manifest[]): Record<string, any>[] {
  return objects.flatMap((object) => {
    const pod = object.spec?.template?.spec;
    return pod ? [...(pod.containers ?? []), ...(pod.initContainers ?? [])] : [];
  });
}

function splitImage(image: string): [string, string | undefined] {
  const colon = image.lastIndexOf(':');
  return colon > image.lastIndexOf('/')
    ? [image.slice(0, colon), image.slice(colon + 1)]
    : [image, undefined];
}

/**
 * A strategic merge patch as kustomize applies the parts used here: maps merge key by key,
 * lists of named items (containers, env, ports) merge item by name, other lists are replaced.
 */
export function merge(base: unknown, patch: unknown): unknown {
  if (Array.isArray(base) && Array.isArray(patch)) {
    const named = (items: unknown[]) =>
      items.every((item) => typeof item === 'object' && item !== null && 'name' in item);
    if (!named(base) || !named(patch)) return patch;
    const merged = [...base] as { name: string }[];
    for (const item of patch as { name: string }[]) {
      const index = merged.findIndex((existing) => existing.name === item.name);
      if (index < 0) merged.push(item);
      else merged[index] = merge(merged[index], item) as { name: string };
    }
    return merged;
  }
  if (isMap(base) && isMap(patch)) {
    const merged: Record<string, unknown> = { ...base };
    for (const [field, value] of Object.entries(patch)) merged[field] = merge(base[field], value);
    return merged;
  }
  return patch;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export { metricNames } from '../helpers/promql.js';

/** The metric families of a Prometheus text exposition, by name. */
export function metricFamilies(text: string): Set<string> {
  return new Set([...text.matchAll(/^# TYPE (\S+) \S+$/gm)].map((match) => match[1] as string));
}

/** The TypeScript type of each apiVersion and kind, from the same packages as the schemas. */
const TYPES: Record<string, [module: string, type: string]> = {
  'apps/v1 Deployment': ['kubernetes-models/apps/v1/Deployment', 'IDeployment'],
  'v1 Service': ['kubernetes-models/v1/Service', 'IService'],
  'v1 Secret': ['kubernetes-models/v1/Secret', 'ISecret'],
  'v1 Namespace': ['kubernetes-models/v1/Namespace', 'INamespace'],
  'policy/v1 PodDisruptionBudget': [
    'kubernetes-models/policy/v1/PodDisruptionBudget',
    'IPodDisruptionBudget',
  ],
  'networking.k8s.io/v1 NetworkPolicy': [
    'kubernetes-models/networking.k8s.io/v1/NetworkPolicy',
    'INetworkPolicy',
  ],
  'autoscaling/v2 HorizontalPodAutoscaler': [
    'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler',
    'IHorizontalPodAutoscaler',
  ],
  'keda.sh/v1alpha1 ScaledObject': [
    '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject',
    'IScaledObject',
  ],
};

/**
 * Type-checks each object as an object literal of its kind's interface: TypeScript's excess
 * property check names every field the API does not have, at any depth, and a wrong type too.
 * Returns one line per problem, naming the object.
 */
export function typeProblems(objects: Manifest[]): string[] {
  const file = join(packageRoot(), 'test', 'deploy', '__manifests__.ts');
  const imports = new Set<string>();
  const lines: string[] = [];
  const problems: string[] = [];
  objects.forEach((object, i) => {
    const type = TYPES[`${object.apiVersion} ${object.kind}`];
    if (!type) {
      problems.push(`${key(object)}: no type for ${object.apiVersion} ${object.kind}`);
      return;
    }
    imports.add(`import type { ${type[1]} } from '${type[0]}';`);
    lines.push(`// ${key(object)}`, `export const o${i}: ${type[1]} = ${JSON.stringify(object)};`);
  });
  const text = [...imports, ...lines].join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) =>
    name === file
      ? ts.createSourceFile(name, text, language)
      : getSourceFile(name, language, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === file || fileExists(name);
  const program = ts.createProgram([file], options, host);
  const source = program.getSourceFile(file);
  for (const diagnostic of ts.getPreEmitDiagnostics(program, source)) {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ');
    const line =
      diagnostic.start === undefined || !source
        ? -1
        : source.getLineAndCharacterOfPosition(diagnostic.start).line;
    const label = line > 0 ? (text.split('\n')[line - 1] ?? '').replace(/^\/\/ /, '') : '';
    problems.push(`${label}: ${message}`);
  }
  return problems;
}
