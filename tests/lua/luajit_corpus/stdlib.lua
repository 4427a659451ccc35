-- The rest of the standard library as LuaJIT 2.1 has it (issue 10 item 2).

-- os.date: every strftime conversion, UTC and local, flags and widths
local times = {0, 86399, 951782400, 1000000000, 1234567890, 1700000000.9, 1764417600, 2147483647,
  2147483648, 4102444800, 253402300799, -1, -86400, -2208988800, 1704067200, 1735603200}
local convs = "aAbBcCdDeFgGhHIjklmMnpPrRsStTuUVwWxXyYz%"
for _, t in ipairs(times) do
  local parts = {}
  for c in convs:gmatch(".") do parts[#parts + 1] = os.date("!%" .. c, t) end
  print("date", t, table.concat(parts, "|"))
end
for _, t in ipairs(times) do
  print("local", t, os.date("%Y-%m-%d %H:%M:%S %j %a %U %W %V %G %z", t), os.date("%c", t))
end
print(os.date("!%-d|%_d|%0e|%^a|%#b|%10A|%-10B|%3j|%Ey|%Od|%Q|%+|%", 86400 * 400.5))
print(os.date("!%Y-%m-%d %H:%M:%S %j", 0), os.date("!%x %X %D %T %R %r", 1234567890))
print(os.date("!text only"), os.date("!"), os.date(""), type(os.date()), #os.date("%Y"))
for _, t in ipairs({0, 1234567890, -86400, 1709208000}) do
  local d = os.date("!*t", t)
  print("*t", t, d.year, d.month, d.day, d.hour, d.min, d.sec, d.wday, d.yday, d.isdst)
  local l = os.date("*t", t)
  print("*tl", t, l.year, l.month, l.day, l.hour, l.min, l.sec, l.wday, l.yday, l.isdst)
end

-- os.time normalises out-of-range fields like mktime and leaves the table alone
local dates = {
  {year = 2024, month = 1, day = 1},
  {year = 2024, month = 1, day = 1, hour = 0},
  {year = 2024, month = 13, day = 32, hour = 25, min = 61, sec = -1},
  {year = 2024, month = 2, day = 30},
  {year = 2023, month = 0, day = 0},
  {year = 2038, month = 1, day = 19, hour = 3, min = 14, sec = 8},
  {year = 1970, month = 1, day = 1, hour = 0},
  {year = 1969, month = 12, day = 31, hour = 23, min = 59, sec = 59},
  {year = 1900, month = 1, day = 1},
  {year = 2100, month = 12, day = 31, hour = 23, min = 59, sec = 59},
  {year = "2024", month = "6", day = 15.9, hour = 7.5},
  {year = 2024, month = 6, day = 15, sec = 86400 * 365},
}
for i, d in ipairs(dates) do
  print("time", i, os.time(d), d.month, d.day)
end
print(pcall(os.time, {year = 2024}), pcall(os.time, {month = 1, day = 1}))
print(os.difftime(10.7, 0.2), os.difftime(5), os.difftime(2^31, -2^31), type(os.clock()))
print(type(os.time()), os.time() > 1.7e9, os.time{year = 2024, month = 1, day = 1} % 1)

-- tonumber with bases and hex strings
local tn = {{"10"}, {"0x10"}, {"0X1F"}, {"  12  "}, {"1e2"}, {".5"}, {"5."}, {"0x.8"}, {"0x1p4"},
  {"inf"}, {"-inf"}, {"nan"}, {"1e500"}, {"-0"}, {"0b101"}, {""}, {" "}, {"1 2"}, {"0x"},
  {"1e"}, {"--1"}, {"+5"}, {"- 5"}, {"ff", 16}, {"FF", 16}, {"-ff", 16}, {"0x10", 16},
  {"777", 8}, {"8", 8}, {"z", 36}, {"Zz", 36}, {"101", 2}, {"2", 2}, {"  -7  ", 8},
  {"ffffffffffffffff", 16}, {"ffffffffffffffffff", 16}, {"7fffffff", 16}, {"80000000", 16},
  {"1.5", 16}, {"", 16}, {"9", 10}, {"0x1f", 10}, {15, 16}, {"4294967296"}, {"9007199254740993"},
  {"0xffffffffffffffff"}, {"123456789012345678901234567890"}}
for _, c in ipairs(tn) do
  print("tonumber", c[1], c[2], tonumber(c[1], c[2]))
end
print(pcall(tonumber), pcall(tonumber, "1", 1), pcall(tonumber, "1", 37), tonumber(nil), tonumber({}))

-- string.rep / sub / byte / char with edge indices
local s = "hello"
local idx = {0, 1, 2, 5, 6, 100, -1, -5, -6, -100, 2.7, -2.7, 2^31, -2^31, 3e9, 1/0, -1/0}
-- Starts beyond +-2^31 are left out: LuaJIT's assembler fast path wraps them (README).
local starts = {0, 1, 2, 5, 6, 100, -1, -5, -6, -100, 2.7, -2.7}
for _, i in ipairs(starts) do
  local line = {}
  for _, j in ipairs(idx) do line[#line + 1] = "[" .. s:sub(i, j) .. "]" end
  print("sub", i, s:sub(i), table.concat(line))
end
for _, i in ipairs(idx) do
  print("byte", i, s:byte(i), select("#", s:byte(i, -1)), s:byte(1, i))
end
print("rep", ("ab"):rep(3), ("ab"):rep(0), ("ab"):rep(-1), ("ab"):rep(2.9), ("x"):rep(3, ","),
  ("x"):rep(1, ","), (""):rep(5), #("abc"):rep(1000))
print("char", string.char(), string.char(72, 105), string.char(65.9, 66.1), (pcall(string.char, 256)),
  (pcall(string.char, -1)))
print("len", ("\0\0"):len(), #"", ("abc"):upper(), ("ABC"):lower(), ("abc"):reverse())
print("find", ("hello"):find("l"), ("hello"):find("l", 4), ("hello"):find("l", -1),
  ("hello"):find("xyz"), ("a.b"):find(".", 1, true), ("hello"):find("", 10), ("hello"):find("", 6))
print("match", ("key=val"):match("(%w+)=(%w+)"), ("  trim  "):match("^%s*(.-)%s*$"),
  ("2024-01-02"):match("(%d+)-(%d+)-(%d+)"))
print("gsub", ("hello world"):gsub("o", "0"), ("abc"):gsub("", "-"), ("abc"):gsub("%w", "%0%0", 2),
  ("x y"):gsub("%w", {x = "1", y = 2}), ("a b"):gsub("%w", function(c) return c:upper() end))

-- table.sort with a comparator, concat with numbers, unpack, select
local list = {5, 2, 8, 1, 9, 3, 3e9, -2^31, 2^53, 0.5}
table.sort(list)
print("sort", table.concat(list, " "))
table.sort(list, function(a, b) return a > b end)
print("sort desc", table.concat(list, " "))
local recs = {{n = "b", v = 2}, {n = "a", v = 2}, {n = "c", v = 1}}
table.sort(recs, function(x, y) if x.v ~= y.v then return x.v < y.v end return x.n < y.n end)
print("sort recs", recs[1].n, recs[2].n, recs[3].n)
local words = {"pear", "Apple", "fig", "apple"}
table.sort(words)
print("sort words", table.concat(words, ","))
print("concat", table.concat({1, 2.5, 3e9, -0, 2^53}, ","), table.concat({}, "x"),
  table.concat({1, 2, 3}, "-", 2), table.concat({1, 2, 3}, "-", 2, 3), table.concat({"a"}, ", ", 1, 1))
print("unpack", unpack({1, 2, 3}), unpack({1, 2, 3}, 2), unpack({1, 2, 3}, 2, 3), unpack({}, 1, 2))
print("select", select("#"), select("#", nil), select("#", nil, nil), select(2, "a", "b", "c"),
  select(-1, "a", "b", "c"), select("#", unpack({1, nil, 3}, 1, 3)))
local t = {}
table.insert(t, "a") table.insert(t, 1, "b") table.insert(t, #t + 1, "c")
print("insert", table.concat(t, ","), table.remove(t), table.remove(t, 1), table.concat(t, ","), #t)
print("getn maxn", table.getn({1, 2, 3}), table.maxn({1, 2, [10] = 3, [3e9] = 4}), table.maxn({}))

-- Lua 5.1 functions LuaJIT keeps
print("compat", math.pow(2, 32), math.log10(1e6), math.mod, string.gfind, type(unpack),
  type(loadstring), loadstring("return 2^31")())
local function f() return who end
local env = {who = "env"}
print("setfenv", setfenv(f, env) == f, f(), getfenv(f) == env, getfenv(1) == _G, getfenv(0) == _G,
  getfenv(print) == _G, who)
local function g() return who end
print("fenv shared", g(), f())
print(pcall(setfenv, print, {}))
local function lvl()
  setfenv(1, setmetatable({who = "level1"}, {__index = _G}))
  return who
end
print("setfenv level", lvl(), who)
module("corpus.mod", package.seeall)
function hello() return "hi from " .. _NAME end
print("module", corpus.mod.hello(), _NAME, _PACKAGE, _M == corpus.mod, package.loaded["corpus.mod"] == _M)

-- math.random on doubles (sequences differ between generators: only ranges compared)
math.randomseed(42)
local inrange = true
for i = 1, 200 do
  local a, b, c = math.random(), math.random(3e9), math.random(-2^40, 2^40)
  inrange = inrange and a >= 0 and a < 1 and b >= 1 and b <= 3e9 and b % 1 == 0
    and c >= -2^40 and c <= 2^40 and c % 1 == 0
end
local r = math.random(1.5, 3.5)
print("random", inrange, math.random(0), math.random(1), r == 1.5 or r == 2.5 or r == 3.5,
  select("#", math.random(1, 2, 3)))

-- table.insert / table.remove without 5.3's bounds checks
local ti = {1, 2, 3}
print("insert far", pcall(table.insert, ti, 10, "x"), #ti, ti[10])
print("insert zero", pcall(table.insert, ti, 0, "y"), ti[0], ti[1], ti[4], #ti)
print("insert args", (pcall(table.insert, ti, 1, 2, 3)), (pcall(table.insert, ti)))
local tr = {"a", "b", "c"}
print("remove", table.remove(tr, 10), select("#", table.remove(tr, 10)), table.remove(tr, 1),
  table.concat(tr, ","), table.remove(tr), table.concat(tr, ","), select("#", table.remove({})),
  select("#", table.remove({}, 0)), table.remove({"z"}, 1.9))

-- gsub and gmatch with Lua 5.1's rules (empty matches after a match, "%" in replacements, no
-- anchor in gmatch)
local function all(s, p)
  local t = {}
  for a, b in s:gmatch(p) do t[#t + 1] = tostring(a) .. (b and ("=" .. tostring(b)) or "") end
  return table.concat(t, "|")
end
print("gmatch", all("abc", "%w*"), all("^a^b", "^."), all("k=v, x=y", "(%w+)=(%w+)"),
  all("abc", "()"), all("one two  three", "%a+"), all("", ".*"), all("a,b,,c", "([^,]*)"))
local subs = {
  {"abc", "%w*", "-"}, {"abc", "", "-"}, {"a b c", "%s*", "_"}, {"abc", "b", "[%0|%1|%%|%-]"},
  {"hello world", "o", "%1"}, {"hello", "l", "L", 1}, {"hello", "l", "L", 0}, {"hello", "l", "L", -1},
  {"hello", "l", "L", 1.9}, {"^abc", "^a", "X"}, {"abc", "^a", "X"}, {"aaa", "^a", "X"},
  {"abc", "()", "%1"}, {"a.b.c", "%.", "%%"}, {"x = 1, y = 22", "(%w+) = (%d+)", "%2=%1"},
  {"abc", ".", {a = 1, b = true and "B"}}, {"abc", "%w", "%0%0"}, {"f(a,b)", "%b()", "[]"},
  {"THE (quick) fox", "%f[%a]%a+", "W"}, {"  trim  ", "^%s*(.-)%s*$", "%1"}, {"abc", "x*", "-"},
}
for i, c in ipairs(subs) do
  local ok, r, n = pcall(string.gsub, c[1], c[2], c[3], c[4])
  print("gsub", i, ok, r, n)
end
print("gsub fn", ("hello"):gsub("(l)(l)", function(a, b) return a:upper() .. b end),
  ("x"):gsub(".", {x = false}), ("x"):gsub(".", function() return nil end),
  ("abc"):gsub("%w", function(c) return c:byte() end), ("b"):gsub("b", "%"):byte(1, -1))
print("gsub errors", (pcall(string.gsub, "abc", "(b)", "%2")), (pcall(string.gsub, "x", "x", {x = {}})),
  (pcall(string.gsub, "x", "x", true)), (pcall(string.gsub, "x", "%", "")), (pcall(string.gsub, "x", "[a", "")))

-- Lua 5.0/5.1 leftovers LuaJIT keeps: table.foreach(i), gcinfo, newproxy, collectgarbage
print("foreachi", pcall(table.foreachi, {10, 20, nil, 40}, function(i, v) print("  fi", i, v) end))
print("foreachi ret", table.foreachi({5, 6, 7}, function(i, v) if v == 6 then return "at" .. i end end))
print("foreachi raw", pcall(table.foreachi, setmetatable({}, {__len = function() return 3 end}), print))
print("foreachi meta", table.foreachi(setmetatable({1, 2}, {__index = function() return "x" end}), function(i, v) return i == 2 and v or nil end))
print("foreach one", pcall(table.foreach, {x = 1}, function(k, v) print("  fe", k, v) end))
print("foreach ret", table.foreach({a = 1}, function(k, v) return false end), table.foreach({}, print))
print("foreach errors", pcall(table.foreach, nil, print), pcall(table.foreachi, {}, 1), (pcall(table.foreachi, {})))
local yielded = coroutine.wrap(function()
  table.foreachi({1, 2}, function(i, v) coroutine.yield(v * 10) end)
  return "done"
end)
print("foreachi yields", yielded(), yielded(), yielded())
local info = gcinfo()
print("gcinfo", type(info), info > 0, info == math.floor(info))
print("collectgarbage", type(collectgarbage("count")), collectgarbage(), collectgarbage("collect"),
  collectgarbage("stop"), collectgarbage("isrunning"), collectgarbage("restart"), collectgarbage("isrunning"))
print("gc params", collectgarbage("setpause", 150), collectgarbage("setpause", 200),
  collectgarbage("setstepmul", 300), collectgarbage("setstepmul", 200))
print("gc bad", (pcall(collectgarbage, "bogus")))
local plain, proxy = newproxy(), newproxy(true)
print("newproxy", type(plain), getmetatable(plain), type(proxy), type(getmetatable(proxy)))
getmetatable(proxy).__index = {hello = "world"}
local sibling = newproxy(proxy)
print("newproxy shares", proxy.hello, getmetatable(sibling) == getmetatable(proxy), sibling.hello)
print("newproxy bad", (pcall(newproxy, {})), (pcall(newproxy, plain)), (pcall(newproxy, 1)))

-- 5.1's metamethod rules: no __len for tables; __lt/__le only between two
-- values of one type that share the metamethod
print("__len", #setmetatable({1, 2}, {__len = function() return 42 end}))
local cmp = {__lt = function() return true end, __le = function() return false end}
local a, b = setmetatable({}, cmp), setmetatable({}, cmp)
local lonely = setmetatable({}, {__lt = function() return true end})
local same = setmetatable({}, {__lt = cmp.__lt})
local function compare(f) local ok = pcall(f); return ok end
print("__lt", a < b, a <= b, compare(function() return a < 1 end), compare(function() return 1 <= a end),
  compare(function() return a < lonely end), compare(function() return a <= lonely end),
  compare(function() return a < same end), compare(function() return same <= a end),
  compare(function() return {} < {} end), compare(function() return true < false end))

-- coroutine.running as in 5.1: nil on the main thread, one value in a coroutine
print("running", coroutine.running(), select("#", coroutine.running()))
print("running in", coroutine.wrap(function()
  local co = coroutine.running()
  return type(co), select("#", coroutine.running()), coroutine.status(co)
end)())

-- table.sort is Lua 5.1's quicksort: the same order for ties, the same
-- comparator calls, and "invalid order function" only where LuaJIT says so
do
  local seed = 777
  local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n end
  for _, size in ipairs({2, 3, 4, 5, 6, 8, 16, 50, 101, 500}) do
    for _, keys in ipairs({1, 2, 10, 100000}) do
      local t, u = {}, {}
      for i = 1, size do t[i] = {id = i, k = rnd(keys)}; u[i] = t[i] end
      local calls = 0
      table.sort(t, function(a, b) calls = calls + 1; return a.k < b.k end)
      local ids = {}
      for i = 1, size do ids[i] = t[i].id end
      local ok = pcall(table.sort, u, function(a, b) return a.k <= b.k end)
      local ids2 = {}
      for i = 1, size do ids2[i] = u[i].id end
      print("sort", size, keys, calls, table.concat(ids, ","):sub(1, 120), ok, table.concat(ids2, ","):sub(1, 120))
    end
  end
  for trial = 1, 30 do
    local t = {}
    for i = 1, 2 + rnd(30) do t[i] = rnd(5) end
    local ok, err = pcall(table.sort, t, function() return rnd(2) == 0 end)
    print("sort random", trial, ok, err, table.concat(t, ","))
  end
  local proxy = setmetatable({}, {__index = {9, 8, 7}})
  table.sort(proxy)
  local short = setmetatable({3, 1, 2}, {__len = function() return 2 end})
  table.sort(short)
  print("sort raw", rawget(proxy, 1), #proxy, table.concat(short, ","), (pcall(table.sort, {3, 1, "x"})))
end

-- os.tmpname creates its file (mkstemp), os.remove/os.rename fail with C's texts
do
  local name = os.tmpname()
  print("tmpname", name:match("^/tmp/lua_%w%w%w%w%w%w$") ~= nil, os.remove(name), (os.remove(name)))
  print("remove", os.remove("/nonexistent/spawn-corpus/x"))
  print("rename", os.rename("/nonexistent/spawn-corpus/a", "/nonexistent/b"))
end

-- file:setvbuf and file:seek exist ("io.stdout:setvbuf('no')" opens many scripts)
print("setvbuf", io.stdout:setvbuf("no"), io.stderr:setvbuf("line", 1024), (pcall(io.stdout.setvbuf, io.stdout, "bogus")))
print("seek", type(io.stdout.seek), (pcall(io.stdout.seek, io.stdout, "bogus")), tostring(io.stdout):match("^file %(0x%x+%)$") ~= nil)

-- require of the built-in libraries, bit included ("local bit = require('bit')")
for _, name in ipairs({"bit", "string", "table", "math", "os", "io", "coroutine", "debug", "package", "_G"}) do
  local ok, lib = pcall(require, name)
  print("require", name, ok, lib == _G[name] or (name == "_G" and lib == _G))
end
print("require bit", require("bit").band(7, 3), package.loaded.bit == bit)

-- LuaJIT 2.1 table extensions: require("table.new"), require("table.clear")
do
  print("table ext", table.new, table.clear, package.loaded["table.new"], type(package.preload["table.new"]))
  local new = require("table.new")
  local t = new(10, 5)
  print("table ext", type(t), #t, next(t), table.new == new, require("table.new") == new)
  local clear = require("table.clear")
  local u = setmetatable({1, 2, 3, x = 3, [2.5] = 4}, {__index = function() return "mt" end})
  clear(u)
  print("table ext", next(u), #u, u.y, table.clear == clear)
  local big = {}; for i = 1, 5000 do big[i] = i; big["k" .. i] = i end; clear(big); print("table ext", next(big))
  print("table ext", (pcall(new)), (pcall(new, "a")), (pcall(new, 1)), (pcall(clear, 1)), (pcall(clear)))
end

-- functions of the runtime are C functions to debug.getinfo and in tracebacks
do
  local info = debug.getinfo(print, "S")
  print("getinfo C", info.what, info.source, info.short_src, info.linedefined, info.lastlinedefined)
  local _, tb = xpcall(function() error("deep") end, debug.traceback)
  print("traceback", tb:match("\n([^\n]*\n[^\n]*)"))
end

-- == calls __eq as 5.1 does: the first operand's, and only if both share the metatable or the __eq
do
  local eq = function(a, b) print("  eq called") return true end
  local m1, m2 = {__eq = eq}, {__eq = eq}
  local m3 = {__eq = function() print("  other eq") return true end}
  local a, b = setmetatable({}, m1), setmetatable({}, m1)
  local c, d = setmetatable({}, m2), setmetatable({}, m3)
  local plain, nomt = setmetatable({}, {}), {}
  print("same mt", a == b, a ~= b)
  print("same fn", a == c)
  print("other fn", a == d, d == a)
  print("only first", a == plain, a == nomt)
  print("only second", plain == a, nomt == a)
  print("self", a == a)
  print("rawequal", rawequal(a, b))
  print("eq in table key", ({[a] = 1})[b])
end

-- pairs ignores __pairs, ipairs reads raw and wants a table (Lua 5.1)
do
  print(select(1, pairs({})) == next, (pcall(pairs)), (pcall(pairs, nil)), (pcall(ipairs, "abc")), (pcall(ipairs)))
  local f1, f2 = ipairs({}), ipairs({1})
  print(f1 == f2, type(f1))
  local s = 0; for i, v in ipairs({1, 2, nil, 4}) do s = s + i * v end; print(s)
  local k = 0; for key, v in pairs({a = 1, b = 2, 3}) do k = k + 1 end; print(k)
  local f, t, i = ipairs({5}); print(f(t, i)); print(f(t, 1)); print(pcall(f, t)); print(pcall(f, nil, 0))
  local ok, err = pcall(function() for i, v in ipairs({1, 2}) do coroutine.yield() end end); print(ok)
  print(coroutine.wrap(function() for i, v in ipairs({7, 8}) do coroutine.yield(v) end return "end" end)())
  local t = setmetatable({1, 2}, {__pairs = function(t) return function() return nil end, t, nil end, __ipairs = function(t) return function() return nil end, t, 0 end})
  local n = 0; for k in pairs(t) do n = n + 1 end
  local m = 0; for k in ipairs(t) do m = m + 1 end
  print("pairs/ipairs", n, m)
  local p = setmetatable({}, {__index = function(_, i) if i <= 3 then return i * 10 end end})
  local q = 0; for i, v in ipairs(p) do q = q + v end
  print("ipairs __index", q)
end

-- print goes through the global tostring, as in LuaJIT
do
  local orig = _G.tostring
  _G.tostring = function(v) if type(v) == "table" then return "<tbl>" end return "[" .. orig(v) .. "]" end
  print("print", 1, "a", nil, true, {})
  _G.tostring = function() return 42 end
  print("print", 2)
  _G.tostring = function() return {} end
  local ok, err = pcall(print, "x")
  _G.tostring = orig
  print("print", ok, err)
end

-- unpack and table.concat read raw and want a table (LuaJIT)
do
  local p = setmetatable({1}, {__index = function(_, i) return i * 10 end, __len = function() return 3 end})
  print("unpack", unpack(p, 1, 3))
  print("unpack default", select("#", unpack(p)))
  print("concat", pcall(table.concat, p, ",", 1, 3))
  print("concat default", table.concat(p, ","))
  print("unpack big", pcall(unpack, {}, 1, 1e8))
  print("unpack i>j", select("#", unpack({1, 2}, 3, 2)))
  print("unpack nums", unpack({1, 2, 3}, 1.5, 2.9))
  print("unpack str", (pcall(unpack, "abc")))
  print("unpack nil", (pcall(unpack, nil)))
  print("concat nums", table.concat({1, 2.5, -0.0, 1e100}, "|", 1.9, 4))
  print("concat sep num", table.concat({1, 2}, 3))
  print("concat bad sep", (pcall(table.concat, {1, 2}, {})))
  print("concat holes", pcall(table.concat, {1, nil, 3}, ",", 1, 3))
end

-- _VERSION is what LuaJIT says
print("version", _VERSION)

-- os.time with isdst = true/false reads the fields in the daylight or standard offset, as glibc mktime
do
  for _, d in ipairs({{2024, 1, 15, 12}, {2024, 7, 15, 12}, {2024, 3, 31, 2, 30}, {2024, 10, 27, 2, 30}, {2024, 4, 7, 2, 15}, {2024, 10, 6, 2, 15}}) do
    local out = {}
    for _, dst in ipairs({"nil", "false", "true"}) do
      local t = {year = d[1], month = d[2], day = d[3], hour = d[4], min = d[5] or 0}
      if dst ~= "nil" then t.isdst = (dst == "true") end
      local v = os.time(t)
      out[#out + 1] = dst .. "=" .. tostring(v) .. "(" .. os.date("%H:%M", v) .. ")"
    end
    print("isdst", table.concat(d, "-"), table.concat(out, " "))
  end
end

-- io.write and file:write answer true, as LuaJIT's (5.3: the file)
print("write result", io.write(""), io.stdout:write(""), io.stderr:write(""), (pcall(io.write, {})))
