/** "1 user", "3 users" (no imports: pure wording modules and their tests use it too). */
export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}
