// Which optional accounting files are skipped per parent (pure, no root).
import { assertEquals } from "../assert.ts";
import { AbsentFiles } from "../../reaper/cgroup/absent_files.ts";
import type { FileReader, FileResult } from "../../reaper/cgroup/stats.ts";

/** A reader over a fixed set of present files that records every name it was asked for. */
function files(present: string[]) {
  const asked: string[] = [];
  const read: FileReader = (name): FileResult => {
    asked.push(name);
    return present.includes(name) ? { kind: "ok", text: "1\n" } : { kind: "missing" };
  };
  return { read, asked };
}

const ALL = ["cpu.stat", "memory.peak", "memory.events", "pids.peak", "pids.forks", "pids.events"];

function readAll(read: FileReader): string[] {
  return ALL.map((name) => read(name, 64).kind);
}

Deno.test("absent optional files are learnt per parent and skipped afterwards", () => {
  const absent = new AbsentFiles();
  const fs = files(["cpu.stat", "memory.events"]);
  const missed: string[] = [];
  readAll(absent.reader("/scope", fs.read, missed));
  assertEquals(missed, ["memory.peak", "pids.peak", "pids.forks", "pids.events"]);
  absent.learn("/scope", missed);
  assertEquals(absent.absentBelow("/scope"), [
    "memory.peak",
    "pids.events",
    "pids.forks",
    "pids.peak",
  ]);

  fs.asked.length = 0;
  const again: string[] = [];
  const kinds = readAll(absent.reader("/scope", fs.read, again));
  assertEquals(fs.asked, ["cpu.stat", "memory.events"], "known-absent files are not read");
  assertEquals(kinds, ["ok", "missing", "ok", "missing", "missing", "missing"]);
  assertEquals(again, []);

  fs.asked.length = 0;
  readAll(absent.reader("/other", fs.read, []));
  assertEquals(fs.asked, ALL, "another parent starts unknown");
});

Deno.test("cpu.stat is never taken for absent, and nothing is learnt without learn()", () => {
  const absent = new AbsentFiles();
  const fs = files([]);
  const missed: string[] = [];
  readAll(absent.reader("/scope", fs.read, missed));
  assertEquals(missed.includes("cpu.stat"), false, "a missing cpu.stat means a removed cgroup");
  fs.asked.length = 0;
  readAll(absent.reader("/scope", fs.read, []));
  assertEquals(fs.asked, ALL, "a child removed while read (not learnt) teaches nothing");
});

Deno.test("forget(parent) and forget(null) bring the files back", () => {
  const absent = new AbsentFiles();
  absent.learn("/a", ["memory.peak"]);
  absent.learn("/b", ["pids.peak"]);
  absent.learn("/b", ["pids.forks"]);
  assertEquals(absent.absentBelow("/b"), ["pids.forks", "pids.peak"], "learning adds up");
  absent.forget("/a");
  assertEquals(absent.absentBelow("/a"), []);
  assertEquals(absent.absentBelow("/b"), ["pids.forks", "pids.peak"]);
  const fs = files(["memory.peak"]);
  readAll(absent.reader("/a", fs.read, []));
  assertEquals(fs.asked, ALL);
  absent.forget(null);
  assertEquals(absent.absentBelow("/b"), []);
});
