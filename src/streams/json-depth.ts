/**
 * How deeply a JSON value accepted from outside (job options, results, metadata, request
 * bodies) may nest. `JSON.parse` copes with any depth, but zod, `structuredClone` and
 * `JSON.stringify` recurse and overflow the stack a few thousand levels down, which turned a
 * 3,000-deep `options` object into a 500. Real provider payloads nest a handful of levels.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Where `value` nests deeper than `maxDepth` levels (a scalar is depth 0, `[]` and `{}` depth 1):
 * the path to the first container past the limit, or `undefined` when it does not. Iterative, so
 * it is safe on values of any depth, and it stops at the first offence (a cyclic object counts
 * as too deep rather than looping).
 *
 * @example
 * tooDeepAt({ a: [[1]] }, 1) // ['a']
 * tooDeepAt({ a: [[1]] }, 3) // undefined
 */
export function tooDeepAt(value: unknown, maxDepth: number): (string | number)[] | undefined {
  return nestsDeeper(value, maxDepth) ? pathPast(value, maxDepth) : undefined;
}

/** The fast check: containers only, two parallel stacks, no allocation per scalar. */
function nestsDeeper(value: unknown, maxDepth: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  const values: object[] = [value];
  const depths: number[] = [1];
  for (let current = values.pop(); current !== undefined; current = values.pop()) {
    const depth = depths.pop() as number;
    if (depth > maxDepth) return true;
    // Indexed and for-in loops: no array allocated per container (a large result has many).
    if (Array.isArray(current)) {
      for (let i = 0; i < current.length; i++) {
        const child = (current as unknown[])[i];
        if (child !== null && typeof child === 'object') {
          values.push(child);
          depths.push(depth + 1);
        }
      }
    } else {
      for (const key in current) {
        const child: unknown = (current as Record<string, unknown>)[key];
        if (child !== null && typeof child === 'object') {
          values.push(child);
          depths.push(depth + 1);
        }
      }
    }
  }
  return false;
}

/** The slow path, only once a value is known to be too deep: the path to the first container past the limit. */
function pathPast(value: unknown, maxDepth: number): (string | number)[] {
  if (value === null || typeof value !== 'object') return [];
  const stack: { value: object; path: (string | number)[] }[] = [{ value, path: [] }];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    if (item.path.length >= maxDepth) return item.path;
    const current = item.value;
    for (const [key, child] of Object.entries(current) as [string, unknown][]) {
      if (child !== null && typeof child === 'object') stack.push({ value: child, path: [...item.path, Array.isArray(current) ? Number(key) : key] });
    }
  }
  return [];
}
