# vsampd@.sed: the template unit vsampd@.service, made from the generated
# vsampd.service by make (and by tests/scripts/systemd.sh, the same way):
# one instance per config file, each with a state directory of its own.
1c\
# vsampd@.service: several vsampd instances on one host. vsampd@NAME\
# runs on the config NAME.conf beside vsampd.conf, with its state in\
# /var/lib/vsampd/NAME; give each config its own dedup.state_file\
# (/var/lib/vsampd/NAME/dedup.state), kafka.consumer.group_instance_id\
# and metrics.listen (docs/operations.md, Scale-out). Enable one with\
# systemctl enable --now vsampd@NAME.
s|^Description=\(.*\)$|Description=\1, instance %i|
s|^\(ExecStart=.* -f .*/\)vsampd\.conf$|\1%i.conf|
s|^StateDirectory=vsampd$|StateDirectory=vsampd/%i|
s|(systemctl edit vsampd)|(systemctl edit vsampd@NAME)|
s|/run/credentials/vsampd\.service/|/run/credentials/vsampd@NAME.service/|
