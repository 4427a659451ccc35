-- LuaJIT's number model: every number is a double (issue 10 item 1).
-- Each line is compared with real LuaJIT's output.

-- The accounting script of the issue.
local u = {cpu = 0, mem = 0}
for i = 1, 50 do
  u.cpu = u.cpu + 1500000000 + i * 7
  u.mem = math.max(u.mem, 2147483000 + i * 1000)
end
print("usage", u.cpu, u.mem)
local btime = 1764417600
print("btime", btime * 1000 + 250, (btime * 1000 + 250) / 1000, btime + 2^31)

local values = {
  0, -0, 1, -1, 0.5, -2.5, 7, 2^31 - 1, 2^31, -2^31, -2^31 - 1, 2^32 - 1, 2^32, 2^32 + 1,
  2^53 - 1, 2^53, -2^53, 2^63, 1e15, 1e16, 123456789012, 0.1, 1/3, 1e-300, 5e-324,
  1/0, -1/0, 3000000000, 4294967296 * 3, 65535, 65536,
}
local names = {}
for i, v in ipairs(values) do names[i] = tostring(v) end

-- unary and tostring / concatenation
for i, v in ipairs(values) do
  print("unary", names[i], -v, v .. "", tostring(v * 1), string.format("%.17g", v), v == v)
end

-- binary operators over a grid of interesting values
local ops = {
  {"+", function(a, b) return a + b end},
  {"-", function(a, b) return a - b end},
  {"*", function(a, b) return a * b end},
  {"/", function(a, b) return a / b end},
  {"%", function(a, b) return a % b end},
  {"^", function(a, b) return a ^ b end},
}
local grid = {0, -0, 1, -1, 2^31 - 1, 2^31, -2^31, 2^32, 2^53, 3000000000, 2.5, 1/0, -1/0}
for _, op in ipairs(ops) do
  for _, a in ipairs(grid) do
    local line = {}
    for _, b in ipairs(grid) do line[#line + 1] = tostring(op[2](a, b)) end
    print(op[1], a, table.concat(line, " "))
  end
end

-- comparisons
for _, a in ipairs(grid) do
  local line = {}
  for _, b in ipairs(grid) do
    line[#line + 1] = (a < b and "<" or "") .. (a <= b and "=" or "") .. (a == b and "e" or "")
  end
  print("cmp", a, table.concat(line, ","))
end
local nan = 0/0
print("nan", nan ~= nan, nan == nan, nan < 1, nan > 1, 1 < nan, math.huge > 2^1023)

-- numeric for loops near 2^31 and 2^32
local function count(a, b, c)
  local n, last = 0, nil
  for i = a, b, c or 1 do
    n = n + 1
    last = i
    if n > 1000 then break end
  end
  return n, last
end
print("for", count(2147483640, 2147483650, 5))
print("for", count(2147483647, 2147483649, 1))
print("for", count(4294967290, 4294967300, 3))
print("for", count(-2147483650, -2147483640, 4))
print("for", count(2147483650, 2147483640, -5))
print("for", count(2^53 - 3, 2^53, 1))
print("for", count(0, 1, 0.25))
print("for", count(1, 0, 1))
print("for", count(0.1, 0.5, 0.1))
print("for", count(3000000000, 3000000010, 2.5))
print("for", count(1, 3))
-- not compared: LuaJIT starts at -0, Lua 5.3 loops from (start - step) + step = 0 (README)
print("for", count(-0.0 + 1, 2, 1))
local s = 0
for i = 1, 100000 do s = s + i * i end
print("sum of squares", s)
s = 0
for i = 2^31 - 10, 2^31 + 10 do s = s + i end
print("sum near 2^31", s)

-- table keys
local t = {}
t[3000000000] = "3e9"
t[2^31] = "2^31"
t[1.0] = "one"
t[2^53] = "2^53"
t[-0] = "zero"
t[0.5] = "half"
print("keys", t[3e9], t[2147483648], t[1], t[2^53], t[0], t[-0], t[0.5], #t)
local keys = {}
for k in pairs(t) do keys[#keys + 1] = k end
table.sort(keys)
print("sorted keys", table.concat(keys, " "))
local arr = {10, 20, 30}
arr[4.0] = 40
print("array", #arr, arr[4], arr[2.0], select("#", unpack(arr)))
local sum = 0
for k, v in pairs(arr) do sum = sum + k * 2^40 + v end
print("pairs keys", sum)
for i, v in ipairs(arr) do sum = sum + i * 3e9 end
print("ipairs keys", sum)

-- math.*
local mvals = {0, -0, 0.5, -0.5, 1.5, -1.5, 2.5, 2^31 + 0.5, -2^31 - 0.5, 2^52 + 0.5, 3e9 + 0.7, 1e300, 1/0, -1/0}
for _, v in ipairs(mvals) do
  print("math", v, math.floor(v), math.ceil(v), math.abs(v), math.sqrt(math.abs(v)), math.fmod(v, 7),
    math.modf(v))
end
print("math2", math.max(1, 2^31, 2^32, 3), math.min(-2^31, -2^32, 0), math.max(-0, 0), math.min(0, -0))
print("math3", math.pow(2, 53), math.pow(2, 0.5), math.log10(1e15), math.log(2^32) / math.log(2),
  math.exp(0), math.log(8, 2), math.fmod(2^33 + 1, 2), math.fmod(-7, 3), math.fmod(7, -3))
print("math4", math.huge, -math.huge, math.pi, math.floor(-0.0), math.ceil(-0.5), math.abs(-2^31))
print("math5", math.frexp(2^31), math.ldexp(1, 32), math.floor(2^53 + 1), 2^53 + 1 == 2^53)
-- Subnormals and the ends of the range (frexp looped forever on subnormals).
for _, x in ipairs({5e-324, -5e-324, 1e-310, 2^-1022, 2^-1022 - 2^-1074, 1e-320, 1.7976931348623157e308, -2^1023, 2^-1021}) do
  print("frexp", x, math.frexp(x), math.ldexp(math.frexp(x)) == x)
end
-- math.log with a base is log2(x) * (1 / log2(base)) in LuaJIT; atan2 keeps the sign of an underflow.
for _, a in ipairs({{1000, 10}, {8, 2}, {243, 3}, {125, 5}, {4096, 8}, {1e15, 10}, {0.5, 3}, {2^31, 0.5},
    {2^31, 2^32}, {7, 7}, {0, 2}, {-1, 2}, {8, 1}, {8, 0}, {1/0, 2}, {8, 1/0}, {1e-310, 10}}) do
  local v = math.log(a[1], a[2])
  print("log", a[1], a[2], string.format("%.17g", v), math.floor(v) == v and "whole" or "not whole")
end
print("log nil base", (pcall(math.log, 8, nil)))
for _, a in ipairs({{-5e-324, 3}, {5e-324, 3}, {-5e-324, 2^31}, {-1e-310, 1e300}, {-0.0, 1}, {-1, 1/0}, {-5e-324, -3}}) do
  print("atan2", a[1], a[2], 1 / math.atan2(a[1], a[2]), string.format("%.17g", math.atan2(a[1], a[2])))
end
-- bit normalises x + 2^52 + 2^51: beyond 2^51 the sum rounds, and that is LuaJIT's answer.
for _, x in ipairs({2^52 + 1, 2^52 + 3, 2^53 + 2, 2^51 + 1, -2^52 - 1, -2^53 - 2, 2^60 + 12345, 1e308, -1e308,
    2.5, 3.5, -2.5, 2^31 + 0.5, 1e20, 1.7e18 + 123456789, 2^51 - 1, -2^51 + 1}) do
  print("tobit", string.format("%.17g", x), bit.tobit(x), bit.tohex(x), bit.band(x, 0xffff), bit.bor(x, 0), bit.rshift(x, 4))
end
-- A zero byte ends no numeral for tonumber in base 10 (strtoul's bases stop at it).
print("tonumber nul", tonumber("12\0"), tonumber("12\0", 16), tonumber("\0"), tonumber(" 12 "), tonumber("0x10\0"), tonumber("1e2\0 "))
-- ldexp where 2^e alone is beyond a double, and its rounding into the subnormals.
for _, a in ipairs({{0.99999999999999989, 1024}, {1e300, -2000}, {1, -1074}, {1, -1075}, {0.75, -1074},
    {3, -1076}, {1, 1024}, {1.5, 1023}, {5e-324, 2000}, {5e-324, 1100}, {-1e-310, 1000}, {1, 2.9},
    {1, -2.9}, {0.5, 1e10}, {0.5, -1e10}, {1e-320, 60}, {1.7976931348623157e308, -2098},
    {1.7976931348623157e308, -2097}, {3, -1075}, {0.5, 0/0}, {1, 1/0}, {1, -1/0}, {0, 1/0}, {1/0, -5000}}) do
  print("ldexp", a[1], a[2], math.ldexp(a[1], a[2]))
end
print("hex", 0xff, 0xffffffff, 0x7fffffff + 1, 0x100000000, -0x80000000, 0xFFFFFFFFFFFF)
print("tonumber", tonumber("0xffffffff"), tonumber("4294967296"), tonumber("9007199254740993"),
  tonumber("1e500"), tonumber("-0"), tonumber("0x1p-2"), tonumber("  12  "))
print("coercion", "10" + 1, "3000000000" * 2, "0x10" + 0, "1e2" * 1, 10 .. 20, 2^31 .. "")
print("len", #"abc" * 2^31, string.len("abcd") * 3e9, #{1, 2, 3} + 2^32)

-- the bit library: 32-bit results, normalised to signed
local bvals = {0, 1, -1, 255, 2^31 - 1, 2^31, -2^31, 2^32 - 1, 2^32, 2^32 + 5, 3000000000, 2^53, 1.5, 2.5, -2.5}
for _, v in ipairs(bvals) do
  print("bit", v, bit.tobit(v), bit.bnot(v), bit.band(v, 0xffff), bit.bor(v, 1), bit.bxor(v, -1),
    bit.lshift(v, 4), bit.rshift(v, 4), bit.arshift(v, 4), bit.rol(v, 8), bit.ror(v, 8),
    bit.bswap(v), bit.tohex(v), bit.tohex(v, -4), bit.tohex(v, 2))
end
print("bit shifts", bit.lshift(1, 31), bit.lshift(1, 32), bit.lshift(1, 33), bit.rshift(-1, 31),
  bit.arshift(-1, 31), bit.rshift(2^31, 0), (pcall(bit.band)), (pcall(bit.band, "x")))
print("ceil", math.ceil(-0.5), math.ceil(-0.845), math.ceil(-0.1), math.ceil(-0.9), math.ceil(-1),
  math.ceil(-0), math.floor(-0), math.floor(0.7), math.floor(-0.3), math.ceil(0.2), math.ceil(-1.5))
