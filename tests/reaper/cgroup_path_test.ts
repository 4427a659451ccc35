// Paths, scopes, deletion order, cgroup2 mount detection.
import { assertEquals, assertThrows } from "../assert.ts";
import {
  compareBytes,
  deletionOrder,
  normalizeCgroupPath,
  statsSuffix,
} from "../../reaper/cgroup/path.ts";
import { parseCgroup2Mount } from "../../reaper/cgroup/root.ts";

Deno.test("deletion order: reverse byte order, children first (spec test 42)", () => {
  assertEquals(deletionOrder(["/a/x", "/a/x/y", "/a/z"]), ["/a/z", "/a/x/y", "/a/x"]);
  assertEquals(deletionOrder(["/a", "/a-b", "/a/b"]), ["/a/b", "/a-b", "/a"]);
});

Deno.test("byte order is UTF-8 order, not UTF-16", () => {
  // U+FF5E (EF BD 9E) < U+1F600 (F0 9F 98 80) in UTF-8, though not in UTF-16.
  assertEquals(compareBytes("\uff5e", "\u{1f600}") < 0, true);
  assertEquals(compareBytes("a", "ab") < 0, true);
  assertEquals(compareBytes("b", "ab") > 0, true);
  assertEquals(compareBytes("x", "x"), 0);
});

Deno.test("cgroup paths are normalized; bad ones are named", () => {
  assertEquals(normalizeCgroupPath("system.slice/a.scope/", "--scope"), "/system.slice/a.scope");
  assertEquals(normalizeCgroupPath("//a//b", "--scope"), "/a/b");
  assertEquals(normalizeCgroupPath("/", "--scope"), "/");
  assertThrows(() => normalizeCgroupPath("/a/../b", "--scope"), "--scope '/a/../b'");
});

Deno.test("stats suffix is the path after the scope prefix", () => {
  const scope = "/system.slice/system-cm4all.slice/bp-spawn.scope";
  assertEquals(statsSuffix(`${scope}/foo`, scope), "foo");
  assertEquals(statsSuffix(`${scope}/foo/bar`, scope), "foo/bar");
  assertEquals(statsSuffix("/other/x", scope), "other/x");
  assertEquals(statsSuffix("/x", null), "x");
});

Deno.test("the cgroup2 mount is found in mountinfo", () => {
  const hybrid = [
    "25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw",
    "31 25 0:27 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755",
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
    "42 31 0:39 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
  ].join("\n");
  assertEquals(parseCgroup2Mount(hybrid), "/sys/fs/cgroup/unified");
  assertEquals(
    parseCgroup2Mount("1 0 0:1 / /sys/fs/cgroup rw shared:1 master:2 - cgroup2 cgroup2 rw\n"),
    "/sys/fs/cgroup",
    "optional fields before the separator",
  );
  assertEquals(
    parseCgroup2Mount(
      "1 0 0:1 /sub /mnt/sub rw - cgroup2 cgroup2 rw\n2 0 0:1 / /mnt/my\\040cg rw - cgroup2 none rw",
    ),
    "/mnt/my cg",
    "prefers the hierarchy root; unescapes",
  );
  assertEquals(parseCgroup2Mount("1 0 0:1 / / rw - ext4 /dev/sda rw\n"), null);
});
