-- string.format as LuaJIT 2.1 writes it (issue 10 items 1 and 2).
local nums = {0, -0, 1, -1, 42, -42, 255, 2.5, -2.5, 0.125, 3.14159, 2^31 - 1, 2^31, -2^31,
  2^32, 3000000000, 2^53, -2^53, 2^63, 2^64, 1e15, 1e21, 1e-5, 123456.789, 1/3, 5e-324, 1e300,
  1/0, -1/0}
local specs = {"%d", "%5d", "%-5d|", "%05d", "%+d", "% d", "%.3d", "%i", "%u", "%x", "%X", "%#x",
  "%o", "%#o", "%f", "%.2f", "%10.3f", "%-10.1f|", "%+.0f", "%#.0f", "%e", "%.3e", "%E", "%g",
  "%.3g", "%#g", "%G", "%.14g", "%.17g", "%a", "%A", "%.3a", "%020.4f", "%s", "%10s"}
for _, spec in ipairs(specs) do
  local line = {}
  for _, n in ipairs(nums) do
    local ok, s = pcall(string.format, spec, n)
    line[#line + 1] = ok and s or "ERR"
  end
  print(spec, table.concat(line, " "))
end
-- nan separately: its sign is not portable in C, LuaJIT prints it unsigned
print(string.format("%f|%5.1f|%-6e|%g|%+f|% f|%F|%G", 0/0, 0/0, 0/0, 0/0, 0/0, 0/0, 0/0, 0/0))
print(string.format("%d|%x", 0/0, 0/0))
-- strings and %q
local strs = {"", "a", "hello world", "tab\there", "nl\nx", "q\"uote", "back\\slash", "\0zero",
  "\1\0012", "\127\128\255", "\r\n", "digits\0009"}
for _, s in ipairs(strs) do
  print(string.format("[%s] [%5s] [%-5s] [%.2s] %q", s, s, s, s, s))
end
print(string.format("%q", 1/3), string.format("%q", 42), string.format("%q", 2^53))
print(string.format("%s %s %s %s", 1, 2.5, 3000000000, -0), string.format("%s|%s|%s", nil, true, false))
print(string.format("%c%c%c|%3c|%-3c|", 72, 105, 33, 65, 66), string.format("%5.1s|", "xyz"))
print(string.format("%%|%d%%", 50), pcall(string.format, "%5%", 1))
print(pcall(string.format, "%d", "x"), pcall(string.format, "%d"), pcall(string.format, "%123d", 1))
print(pcall(string.format, "%y", 1), pcall(string.format, "%.123f", 1), pcall(string.format, "%", 1))
print(string.format("%d", "42"), string.format("%.1f", "2.25"), string.format("%x", "0x10"))
print(string.format("%5.2f%%  %-8s|%08.3f|%+5d", 99.5, "cpu", -3.14159, 7))
print(string.format("%.0f %.0f %.0f %.0f %.0f %.1f %.1f %.2f %.2f", 0.5, 1.5, 2.5, -0.5, -1.5, 0.25, 0.35, 1.005, 2.675))
print(string.format("%.99f", 0.1):sub(1, 60), #string.format("%.99f", 1e300))
print(string.format("%-+8.3e|% 012.3g|%#.3x|%#5o", 12345.678, -0.000123456, 255, 8))
for i = 0, 20 do
  local x = 2^(i * 3) + i / 7
  print("fmt", i, string.format("%.3f %.6e %g %.10g %d %x", x, x, x, x, x, x))
end
for i = -8, 8 do
  local x = 10^i * 1.2345678
  print("g", i, string.format("%g %.1g %.2g %#.3g %G %.14g", x, x, x, x, x, x), tostring(x), x)
end
