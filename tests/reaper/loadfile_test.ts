// loadfile, dofile and require cannot read files outside the script's
// directory (issue 14 item 12): the reaper runs with CAP_DAC_OVERRIDE and a
// load error quotes the file. Run through the real --check-lua.
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { runReaper } from "./reaper_process.ts";
import { getuid } from "../../ffi/process.ts";

Deno.test({
  name: "loadfile('/etc/shadow') is refused without leaking; files beside the script load",
  ignore: getuid() !== 0,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      Deno.writeTextFileSync(`${dir}/helper.lua`, `return "helper ok"`);
      Deno.symlinkSync("/etc/shadow", `${dir}/sneaky.lua`);
      Deno.writeTextFileSync(
        `${dir}/reaper.lua`,
        `
        local f, err = loadfile("/etc/shadow")
        print("LOADFILE", tostring(f), err)
        print("DOFILE", pcall(dofile, "/etc/shadow"))
        print("SYMLINK", loadfile("sneaky.lua"))
        print("STDIN", loadfile())
        package.path = "/etc/?"
        print("REQUIRE", pcall(require, "shadow"))
        print("HELPER", loadfile("helper.lua")(), dofile("${dir}/helper.lua"))
        package.path = "${dir}/?.lua"
        print("REQUIRED", require("helper"))
        function cgroup_released() end
        `,
      );
      const r = await runReaper(["--check-lua", `${dir}/reaper.lua`]);
      const out = r.stdout + r.stderr;
      for (const line of Deno.readTextFileSync("/etc/shadow").split("\n")) {
        const user = line.split(":")[0];
        if (user) assert(!out.includes(`${user}:`), `a line of /etc/shadow leaked:\n${out}`);
      }
      assertMatch(
        out,
        /LOADFILE\tnil\tloadfile: '\/etc\/shadow' is outside the script's directory/,
      );
      assertMatch(out, /DOFILE\tfalse\t.*dofile: '\/etc\/shadow' is outside/);
      assertMatch(out, /SYMLINK\tnil\tloadfile: 'sneaky.lua' is outside/);
      assertMatch(out, /STDIN\tnil\tloadfile: loadfile from stdin is not allowed/);
      assertMatch(
        out,
        /REQUIRE\tfalse\t.*no file '\/etc\/shadow' \(outside the script's directory\)/,
      );
      assertMatch(out, /HELPER\thelper ok\thelper ok/);
      assertMatch(out, /REQUIRED\thelper ok/);
      assertEquals(r.code, 0, out);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
