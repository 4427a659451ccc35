// libpq's default user name: the effective user's login name from the
// password database (getpwuid), falling back to $USER.

export function passwdNameForUid(passwd: string, uid: number): string | null {
  for (const line of passwd.split("\n")) {
    const fields = line.split(":");
    if (fields.length >= 3 && Number(fields[2]) === uid && fields[2] !== "") return fields[0];
  }
  return null;
}

export function osUserName(): string {
  const uid = Deno.uid();
  if (uid !== null) {
    try {
      const name = passwdNameForUid(Deno.readTextFileSync("/etc/passwd"), uid);
      if (name !== null) return name;
    } catch {
      // no readable passwd file: fall back below
    }
  }
  return Deno.env.get("USER") ?? (uid === 0 ? "root" : String(uid));
}
