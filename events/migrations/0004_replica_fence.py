from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("events", "0003_barchart")]

    operations = [
        migrations.CreateModel(
            name="ReplicaFence",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("generation", models.BigIntegerField(default=0)),
                ("lsn", models.BigIntegerField(default=0)),
            ],
            options={"db_table": "eventsite_replica_fence"},
        ),
        migrations.RunSQL(
            "INSERT INTO eventsite_replica_fence (id, generation, lsn) VALUES (1, 0, 0)",
            reverse_sql=migrations.RunSQL.noop,
        ),
    ]
