import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { kernelParameters, parseIsolcpus } from "../../src/core/isolcpus.ts";

const cpusOf = (cmdline: string, lastCpu?: number): string => parseIsolcpus(cmdline, lastCpu).cpus.toString();

describe("parseIsolcpus", () => {
  it("reads a plain list with ranges", () => {
    const result = parseIsolcpus("BOOT_IMAGE=/vmlinuz root=/dev/sda1 isolcpus=0,1,2,3,8,9,10,11,15-18 quiet\n");
    assert.equal(result.cpus.toString(), "0-3,8-11,15-18");
    assert.deepEqual(result.warnings, []);
    assert.deepEqual(result.flags, []);
  });

  it("accepts kernel flags and stride ranges (CMK crashed on these)", () => {
    const result = parseIsolcpus("isolcpus=domain,managed_irq,2-5,8-15:2");
    assert.equal(result.cpus.toString(), "2-5,8,10,12,14");
    assert.deepEqual([...result.flags].sort(), ["domain", "managed_irq"]);
    assert.deepEqual(result.warnings, []);
  });

  it("treats nohz together with domain as isolation", () => {
    const result = parseIsolcpus("isolcpus=nohz,domain,1-3");
    assert.equal(result.cpus.toString(), "1-3");
    assert.deepEqual([...result.flags].sort(), ["domain", "nohz"]);
  });

  it("accepts the kernel's group syntax a-b:used/group", () => {
    assert.equal(cpusOf("isolcpus=0-15:2/8"), "0-1,8-9");
  });

  it("does not count flags without domain as isolation, and warns naming the CPUs", () => {
    const result = parseIsolcpus("isolcpus=managed_irq,2-5");
    assert.equal(result.cpus.isEmpty, true);
    assert.equal(result.warnings.length, 1);
    assert.match(result.warnings[0] ?? "", /domain/);
    assert.match(result.warnings[0] ?? "", /2-5/);
    assert.equal(cpusOf("isolcpus=nohz,4-5"), "");
  });

  it("accumulates repeated isolcpus parameters", () => {
    assert.equal(cpusOf("isolcpus=1,2 quiet isolcpus=5-6 isolcpus=domain,9"), "1-2,5-6,9");
    // A flagged parameter without domain contributes nothing, the others still count.
    assert.equal(cpusOf("isolcpus=1 isolcpus=managed_irq,3"), "1");
  });

  it("warns about garbage items, naming them, and keeps the rest", () => {
    const result = parseIsolcpus("isolcpus=1,foo,3,7-5,2-4:0,,x-y");
    assert.equal(result.cpus.toString(), "1,3");
    const all = result.warnings.join("\n");
    for (const item of ['"foo"', '"7-5"', '"2-4:0"', '"x-y"']) assert.ok(all.includes(item), `warnings should name ${item}: ${all}`);
    assert.equal(result.warnings.length, 4);
  });

  it("warns about ids beyond the supported range instead of failing", () => {
    const result = parseIsolcpus("isolcpus=2,70000");
    assert.equal(result.cpus.toString(), "2");
    assert.match(result.warnings.join("\n"), /70000/);
  });

  it("ignores other parameters that look alike", () => {
    assert.equal(cpusOf("c=7,8,9"), "");
    assert.equal(cpusOf("nohz_full=1-3 rcu_nocbs=1-3 xisolcpus=4 isolcpus_x=5 isolcpus"), "");
    assert.deepEqual(parseIsolcpus("c=7,8,9").warnings, []);
  });

  it("accepts an empty value", () => {
    const result = parseIsolcpus("isolcpus= quiet");
    assert.equal(result.cpus.isEmpty, true);
    assert.deepEqual(result.warnings, []);
  });

  it("reads quoted values", () => {
    assert.equal(cpusOf('isolcpus="1-3,5"'), "1-3,5");
    assert.equal(cpusOf('"isolcpus=domain,6-7"'), "6-7");
    assert.equal(cpusOf('dyndbg="file foo.c +p" isolcpus=4'), "4");
  });

  it("ignores parameters after -- (they belong to init)", () => {
    assert.equal(cpusOf("root=/dev/sda1 isolcpus=1 -- isolcpus=5 single"), "1");
    assert.equal(cpusOf("-- isolcpus=5"), "");
  });

  it("splits on any whitespace", () => {
    assert.equal(cpusOf("quiet\tisolcpus=2\n"), "2");
    assert.equal(cpusOf("  isolcpus=3  \n"), "3");
  });

  it("resolves N to the last CPU when given", () => {
    assert.equal(cpusOf("isolcpus=4-N", 7), "4-7");
    assert.equal(cpusOf("isolcpus=domain,N", 15), "15");
  });

  it("warns instead of failing on N when the last CPU is unknown", () => {
    const result = parseIsolcpus("isolcpus=1,4-N");
    assert.equal(result.cpus.toString(), "1");
    assert.match(result.warnings.join("\n"), /4-N/);
  });

  it("never throws, whatever the command line (fuzz)", () => {
    let seed = 0x2545f491;
    const random = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 0x100000000;
    };
    const pieces = [
      "isolcpus=",
      "isolcpus",
      "=",
      ",",
      "-",
      ":",
      "/",
      "N",
      '"',
      " ",
      "\t",
      "\n",
      "--",
      "domain",
      "nohz",
      "managed_irq",
      "0",
      "1",
      "7",
      "12",
      "65535",
      "65536",
      "99999999999999999999",
      "x",
      "é",
      "\u0000",
      "-1",
      "0-",
      "-3",
      ":2",
      "/0",
      "0-N",
      "N-0",
    ];
    for (let run = 0; run < 400; run++) {
      let cmdline = "";
      const length = 1 + Math.floor(random() * 25);
      for (let index = 0; index < length; index++) cmdline += pieces[Math.floor(random() * pieces.length)] ?? "";
      for (const lastCpu of [undefined, 7]) {
        let result: ReturnType<typeof parseIsolcpus> | undefined;
        assert.doesNotThrow(
          () => {
            result = parseIsolcpus(cmdline, lastCpu);
          },
          `cmdline ${JSON.stringify(cmdline)}`,
        );
        assert.ok(result !== undefined);
        for (const cpu of result.cpus) assert.ok(Number.isInteger(cpu) && cpu >= 0 && cpu <= 65535, JSON.stringify(cmdline));
        for (const warning of result.warnings) assert.equal(typeof warning, "string");
      }
    }
  });
});

describe("kernelParameters", () => {
  it("splits on whitespace, keeps quoted spaces, drops quotes and stops at --", () => {
    assert.deepEqual(kernelParameters('root=/dev/sda1  dyndbg="a b" quiet -- init-arg isolcpus=1\n'), ["root=/dev/sda1", "dyndbg=a b", "quiet"]);
    assert.deepEqual(kernelParameters(""), []);
  });

  it("does not stop at a -- glued to other text", () => {
    assert.deepEqual(kernelParameters("a--b --c isolcpus=1"), ["a--b", "--c", "isolcpus=1"]);
  });
});
