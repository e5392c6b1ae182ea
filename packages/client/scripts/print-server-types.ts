// Prints the server's types that src/server-types.ts re-exports as plain,
// self-contained TypeScript: every type resolved to its structure (objects,
// unions, literals, arrays, Date and the other built-ins), so the published
// .d.ts needs only @trpc/server's router types and names no server library.
// AppRouter is printed as a TRPCBuiltRouter of its procedures' inputs and
// outputs (the server's context is not part of what a client sees).
// A type the printer cannot make plain (a class from a library, a function in
// an output) fails the build, naming the type and where it was met: give the
// router a plain output type there.
import path from "node:path";
import ts from "typescript";

const TRPC_IMPORTS = ["TRPCBuiltRouter", "TRPCQueryProcedure", "TRPCMutationProcedure", "TRPCSubscriptionProcedure", "TrackedEnvelope"] as const;
const PROCEDURE_KINDS: Record<string, string> = { query: "TRPCQueryProcedure", mutation: "TRPCMutationProcedure", subscription: "TRPCSubscriptionProcedure" };
const PRIMITIVE =
  ts.TypeFlags.Any |
  ts.TypeFlags.Unknown |
  ts.TypeFlags.Never |
  ts.TypeFlags.Void |
  ts.TypeFlags.Undefined |
  ts.TypeFlags.Null |
  ts.TypeFlags.String |
  ts.TypeFlags.Number |
  ts.TypeFlags.Boolean |
  ts.TypeFlags.BigInt |
  ts.TypeFlags.ESSymbol |
  ts.TypeFlags.NumberLiteral |
  ts.TypeFlags.BooleanLiteral |
  ts.TypeFlags.BigIntLiteral |
  ts.TypeFlags.TemplateLiteral |
  ts.TypeFlags.NonPrimitive;

/** Print the exports of `bridgeFile` (a module of `export type { X } from "..."`) as a module of plain type declarations. */
export function printServerTypes(repoRoot: string, bridgeFile: string): string {
  const config = ts.getParsedCommandLineOfConfigFile(path.join(repoRoot, "tsconfig.json"), { noEmit: true, incremental: false }, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    },
  });
  if (!config) throw new Error("cannot read tsconfig.json");
  const program = ts.createProgram({ rootNames: [bridgeFile], options: config.options });
  const errors = ts.getPreEmitDiagnostics(program).filter((d) => d.category === ts.DiagnosticCategory.Error);
  if (errors.length > 0) throw new Error(ts.formatDiagnostics(errors, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => repoRoot, getNewLine: () => "\n" }));
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(bridgeFile);
  const moduleSymbol = source && checker.getSymbolAtLocation(source);
  if (!moduleSymbol) throw new Error(`${bridgeFile} is not a module`);
  const printer = new PlainTypePrinter(checker, program);
  const exports = checker.getExportsOfModule(moduleSymbol);
  // Shared types first, so the router's outputs refer to them by their names.
  const ordered = [...exports.filter((e) => e.name !== "AppRouter"), ...exports.filter((e) => e.name === "AppRouter")];
  const targets = ordered.map((exported) => {
    const target = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    printer.reserve(exported.name, target);
    return { exported, target };
  });
  for (const { exported, target } of targets) {
    const type = target.flags & ts.SymbolFlags.Value && !(target.flags & ts.SymbolFlags.Type) ? checker.getTypeOfSymbol(target) : checker.getDeclaredTypeOfSymbol(target);
    if (exported.name === "AppRouter") printer.declare("AppRouter", printer.router(type));
    else printer.declareNamed(exported.name, type, true);
  }
  return printer.module();
}

class PlainTypePrinter {
  private readonly names = new Map<ts.Type, string>();
  /** Names by the type alias or interface they came from (one alias can stand for several type objects). */
  private readonly symbolNames = new Map<ts.Symbol, string>();
  private readonly declarations = new Map<string, string>();
  private readonly exported = new Set<string>();
  private readonly inProgress = new Set<ts.Type>();
  private readonly path: string[] = [];
  private recursiveCount = 0;

  constructor(
    private readonly checker: ts.TypeChecker,
    private readonly program: ts.Program,
  ) {}

  /** The whole module: the imports from @trpc/server, then every declaration in the order printed. */
  module(): string {
    const lines = [`import type { ${TRPC_IMPORTS.join(", ")} } from "@trpc/server";`, ""];
    for (const [name, text] of this.declarations) lines.push(`${this.exported.has(name) ? "export " : ""}type ${name} = ${text};`, "");
    return lines.join("\n");
  }

  /** Claim an exported name before printing, so references met earlier use it too. */
  reserve(name: string, symbol: ts.Symbol): void {
    this.symbolNames.set(symbol, name);
    this.declarations.set(name, "");
  }

  declare(name: string, text: string): void {
    this.exported.add(name);
    this.declarations.set(name, text);
  }

  /** Declare a type under its own name; later references print the name. */
  declareNamed(name: string, type: ts.Type, exported = false): void {
    this.names.set(type, name);
    if (exported) this.exported.add(name);
    this.inProgress.add(type);
    this.path.push(name);
    this.declarations.set(name, "");
    const text = this.structure(type);
    this.path.pop();
    this.inProgress.delete(type);
    this.declarations.set(name, text);
  }

  /** A tRPC router as TRPCBuiltRouter<root types, record of procedures>. */
  router(type: ts.Type): string {
    const def = this.property(type, "_def");
    const root = this.property(this.property(this.property(def, "_config"), "$types"), "errorShape");
    this.path.push("AppRouter");
    const record = this.record(this.property(def, "record"), "  ");
    const errorShape = this.print(root);
    this.path.pop();
    return `TRPCBuiltRouter<{ ctx: object; meta: object; errorShape: ${errorShape}; transformer: true }, ${record}>`;
  }

  private record(type: ts.Type, indent: string): string {
    const entries = this.checker.getPropertiesOfType(type).map((member) => {
      const value = this.checker.getTypeOfSymbol(member);
      this.path.push(member.name);
      const def = value.getProperty("_def") && this.property(value, "_def");
      let text: string;
      if (def?.getProperty("procedure")) {
        const kindType = this.property(def, "type");
        const kind = kindType.isStringLiteral() ? PROCEDURE_KINDS[kindType.value] : undefined;
        if (!kind) throw this.failure("a procedure of unknown type", kindType);
        const types = this.property(def, "$types");
        text = `${kind}<{ input: ${this.print(this.property(types, "input"))}; output: ${this.print(this.property(types, "output"))}; meta: object }>`;
      } else {
        text = this.record(value, `${indent}  `);
      }
      this.path.pop();
      return `${indent}  ${propertyName(member.name)}: ${text};`;
    });
    return `{\n${entries.join("\n")}\n${indent}}`;
  }

  private property(type: ts.Type, name: string): ts.Type {
    const symbol = this.checker.getPropertyOfType(type, name);
    if (!symbol) throw this.failure(`no property ${name}`, type);
    return this.checker.getTypeOfSymbol(symbol);
  }

  /** A type as its name (if it has one here) or its structure. */
  print(type: ts.Type): string {
    const known = this.names.get(type);
    if (known) return known;
    if (this.inProgress.has(type)) {
      // A recursive type (JSON values): give it a name and refer to it.
      const name = this.freeName(type.aliasSymbol?.name ?? `Recursive${++this.recursiveCount}`);
      this.names.set(type, name);
      return name;
    }
    const symbol = this.namedSymbol(type);
    const reserved = symbol && this.symbolNames.get(symbol);
    if (reserved) return reserved;
    if (symbol) {
      const name = this.freeName(symbol.name);
      this.symbolNames.set(symbol, name);
      this.declareNamed(name, type);
      return name;
    }
    this.inProgress.add(type);
    const text = this.structure(type);
    this.inProgress.delete(type);
    const name = this.names.get(type);
    if (name) {
      this.declarations.set(name, text);
      return name;
    }
    return text;
  }

  /** A non-generic type alias or interface declared in the project's own sources: the type keeps its name. */
  private namedSymbol(type: ts.Type): ts.Symbol | null {
    const symbol = type.aliasSymbol ?? (type.flags & ts.TypeFlags.Object && (type as ts.ObjectType).objectFlags & ts.ObjectFlags.Interface ? type.getSymbol() : undefined);
    if (!symbol || (type.aliasTypeArguments?.length ?? 0) > 0) return null;
    const file = symbol.declarations?.[0]?.getSourceFile().fileName ?? "";
    if (file.includes("/node_modules/") || file.includes("/generated/") || this.program.isSourceFileDefaultLibrary(symbol.declarations?.[0]?.getSourceFile() as ts.SourceFile)) return null;
    return symbol;
  }

  private freeName(wanted: string): string {
    let name = wanted;
    const taken = (n: string) => this.declarations.has(n) || TRPC_IMPORTS.includes(n as (typeof TRPC_IMPORTS)[number]) || this.isGlobalName(n);
    for (let n = 2; taken(name); n++) name = `${wanted}${n}`;
    this.declarations.set(name, "");
    return name;
  }

  private structure(type: ts.Type): string {
    const { checker } = this;
    if (type.flags & ts.TypeFlags.EnumLiteral && type.isStringLiteral()) return JSON.stringify(type.value);
    if (type.flags & ts.TypeFlags.StringLiteral && type.isStringLiteral()) return JSON.stringify(type.value);
    if (type.flags & PRIMITIVE) return checker.typeToString(type);
    if (type.isUnion()) return this.union(type.types);
    if (type.isIntersection()) {
      if (type.types.every((t) => t.flags & ts.TypeFlags.Object && !this.isBuiltIn(t))) return this.object(type);
      return type.types.map((t) => wrap(this.print(t))).join(" & ");
    }
    if (type.flags & ts.TypeFlags.UniqueESSymbol) throw this.failure("a unique symbol outside a tracked() envelope", type);
    if (!(type.flags & ts.TypeFlags.Object)) throw this.failure("a type the printer does not know", type);
    if (checker.isArrayType(type)) {
      const [element] = checker.getTypeArguments(type as ts.TypeReference);
      const readonly = type.getSymbol()?.name === "ReadonlyArray" ? "readonly " : "";
      return `${readonly}${wrap(this.print(element as ts.Type))}[]`;
    }
    if (checker.isTupleType(type)) return this.tuple(type as ts.TupleTypeReference);
    const arrayBase = this.arrayBase(type);
    if (arrayBase) return this.print(arrayBase);
    if (this.isBuiltIn(type)) {
      const reference = type as ts.TypeReference;
      const parameters = (reference.target ?? reference).typeParameters?.length ?? 0;
      const args = parameters > 0 ? checker.getTypeArguments(reference).slice(0, parameters) : [];
      return `${type.getSymbol()?.name}${args.length > 0 ? `<${args.map((a) => this.print(a)).join(", ")}>` : ""}`;
    }
    if (type.getCallSignatures().length > 0 || type.getConstructSignatures().length > 0) throw this.failure("a function", type);
    const file = type.getSymbol()?.declarations?.[0]?.getSourceFile().fileName ?? "";
    if (type.getSymbol()?.flags && (type.getSymbol() as ts.Symbol).flags & ts.SymbolFlags.Class && file.includes("/node_modules/")) {
      throw this.failure(`an instance of the library class ${type.getSymbol()?.name}`, type);
    }
    return this.object(type);
  }

  private union(members: readonly ts.Type[]): string {
    const hasTrue = members.some((m) => m.flags & ts.TypeFlags.BooleanLiteral && this.checker.typeToString(m) === "true");
    const hasFalse = members.some((m) => m.flags & ts.TypeFlags.BooleanLiteral && this.checker.typeToString(m) === "false");
    const parts: string[] = [];
    for (const member of members) {
      if (hasTrue && hasFalse && member.flags & ts.TypeFlags.BooleanLiteral) {
        if (!parts.includes("boolean")) parts.push("boolean");
        continue;
      }
      parts.push(wrap(this.print(member)));
    }
    // TypeScript orders a union's members by type id, which depends on what it checked first: sorted,
    // the same union prints the same in every build (undefined and null first, as written by hand).
    const rank = (part: string) => (part === "undefined" ? 0 : part === "null" ? 1 : 2);
    return parts.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0)).join(" | ");
  }

  /** tracked() envelopes keep tRPC's name (the client recognises them by it); other tuples print their elements. */
  private tuple(type: ts.TupleTypeReference): string {
    const elements = this.checker.getTypeArguments(type);
    if (type.aliasSymbol?.name === "TrackedEnvelope" || (elements.length === 3 && (elements[2] as ts.Type).flags & ts.TypeFlags.UniqueESSymbol)) {
      return `TrackedEnvelope<${this.print(elements[1] as ts.Type)}>`;
    }
    const flags = type.target.elementFlags;
    const printed = elements.map((element, i) => {
      const flag = flags[i] ?? ts.ElementFlags.Required;
      if (flag & ts.ElementFlags.Rest) return `...${wrap(this.print(element))}[]`;
      return `${this.print(element)}${flag & ts.ElementFlags.Optional ? "?" : ""}`;
    });
    return `${type.target.readonly ? "readonly " : ""}[${printed.join(", ")}]`;
  }

  private object(type: ts.Type): string {
    const { checker } = this;
    const members: string[] = [];
    for (const info of checker.getIndexInfosOfType(type)) {
      members.push(`${info.isReadonly ? "readonly " : ""}[key: ${checker.typeToString(info.keyType)}]: ${this.print(info.type)};`);
    }
    for (const property of checker.getPropertiesOfType(type)) {
      if (property.name.startsWith("__@")) throw this.failure(`a symbol-named property (${property.name})`, type);
      this.path.push(property.name);
      const optional = property.flags & ts.SymbolFlags.Optional ? "?" : "";
      members.push(`${propertyName(property.name)}${optional}: ${this.print(checker.getTypeOfSymbol(property))};`);
      this.path.pop();
    }
    return members.length === 0 ? "{}" : `{ ${members.join(" ")} }`;
  }

  /** The array an interface that only extends an array is (Prisma's `interface JsonArray extends Array<JsonValue> {}`). */
  private arrayBase(type: ts.Type): ts.Type | null {
    if (!((type as ts.ObjectType).objectFlags & ts.ObjectFlags.Interface) || this.isBuiltIn(type)) return null;
    const bases = this.checker.getBaseTypes(type as ts.InterfaceType);
    const declarations = type.getSymbol()?.declarations ?? [];
    const ownMembers = declarations.some((d) => ts.isInterfaceDeclaration(d) && d.members.length > 0);
    return bases.length === 1 && this.checker.isArrayType(bases[0] as ts.Type) && !ownMembers ? (bases[0] as ts.Type) : null;
  }

  /** An interface or class of the TypeScript library (Date, Map, AsyncGenerator, Uint8Array, ...): every consumer has it. */
  private isBuiltIn(type: ts.Type): boolean {
    const symbol = type.getSymbol();
    const declaration = symbol?.declarations?.[0];
    if (!symbol || !declaration || !(symbol.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.Class))) return false;
    return this.program.isSourceFileDefaultLibrary(declaration.getSourceFile());
  }

  /** A name the TypeScript library declares (Array, Date, Record, ...): a declaration of that name would shadow it. */
  private isGlobalName(name: string): boolean {
    return this.checker.resolveName(name, undefined, ts.SymbolFlags.Type | ts.SymbolFlags.Value, false) !== undefined;
  }

  private failure(what: string, type: ts.Type): Error {
    return new Error(`server-types: cannot print ${what} (${this.checker.typeToString(type)}) at ${this.path.join(".")}: give the router a plain type there`);
  }
}

function propertyName(name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name);
}

/** Parenthesise a union, intersection or function type used inside a union, an intersection or an array. */
function wrap(text: string): string {
  let depth = 0;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === "{" || c === "<" || c === "(" || c === "[") depth++;
    else if (c === "}" || c === ">" || c === ")" || c === "]") depth--;
    else if (depth === 0 && (c === "|" || c === "&")) return `(${text})`;
  }
  return text;
}
