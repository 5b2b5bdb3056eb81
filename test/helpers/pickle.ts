// Pickle bytes from opcode pieces, for the hand-written torch.save archives of
// the tests (there is no torch here): protocol header, opcodes, STOP.
export class Pickle {
  #parts: Buffer[];
  constructor(protocol = 2) {
    this.#parts = [Buffer.from([0x80, protocol])];
  }
  /** Raw opcodes, one byte per char (latin1). */
  op(...codes: string[]): this {
    this.#parts.push(Buffer.from(codes.join(""), "latin1"));
    return this;
  }
  /** BINUNICODE. */
  str(s: string): this {
    const b = Buffer.from(s, "utf8");
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    this.#parts.push(Buffer.from("X", "latin1"), len, b);
    return this;
  }
  /** BININT. */
  int(v: number): this {
    const b = Buffer.alloc(5);
    b.write("J", "latin1");
    b.writeInt32LE(v, 1);
    this.#parts.push(b);
    return this;
  }
  global(module: string, name: string): this {
    return this.op(`c${module}\n${name}\n`);
  }
  tuple(values: number[]): this {
    this.op("(");
    for (const v of values) this.int(v);
    return this.op("t");
  }
  /** torch._utils._rebuild_tensor_v2(persistent FloatStorage "0", 0, shape, stride, False, OrderedDict()). */
  tensor(numel: number, shape: number[], stride: number[]): this {
    this.global("torch._utils", "_rebuild_tensor_v2").op("(");
    this.op("(").str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(numel).op("t", "Q");
    this.int(0).tuple(shape).tuple(stride).op("\x89");
    return this.global("collections", "OrderedDict").op(")", "R", "t", "R");
  }
  finish(): Buffer {
    return Buffer.concat([...this.#parts, Buffer.from(".", "latin1")]);
  }
}
