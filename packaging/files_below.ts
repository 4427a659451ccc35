/** Every file below dir (recursively), as paths that start with dir, sorted. */
export function filesBelow(dir: string): string[] {
  const found: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) found.push(...filesBelow(path));
    else found.push(path);
  }
  return found.sort();
}
