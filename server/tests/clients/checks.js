// What the Node.js client scripts share: one line per check, and the first failure ends the script.
function check(name, got, want) {
  const [g, w] = [JSON.stringify(got), JSON.stringify(want)];
  if (g !== w) {
    console.log(`FAIL ${name}: got ${g}, want ${w}`);
    process.exit(1);
  }
  console.log(`ok ${name}`);
}

module.exports = { check };
